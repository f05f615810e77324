"""Dependencies of the routes: the detector's parts (``wiring.Detector``), built once and kept
on the app; mutating endpoints also require the internal token
(:func:`shared.web.require_internal_token`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.detector.config import DetectorSettings
from services.detector.detection_engine import DetectionEngine
from services.detector.model_manager import ModelManager
from services.detector.wiring import Detector


def get_detector(request: Request) -> Detector:
    detector: Detector = request.app.state.detector
    return detector


def _engine(request: Request) -> DetectionEngine:
    return get_detector(request).engine


def _models(request: Request) -> ModelManager:
    return get_detector(request).models


def _settings(request: Request) -> DetectorSettings:
    return get_detector(request).settings


DetectorDep = Annotated[Detector, Depends(get_detector)]
EngineDep = Annotated[DetectionEngine, Depends(_engine)]
ModelsDep = Annotated[ModelManager, Depends(_models)]
SettingsDep = Annotated[DetectorSettings, Depends(_settings)]
