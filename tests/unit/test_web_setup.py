"""What every service's app gets from ``setup_app`` besides its routes."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import REGISTRY

from shared.settings import BaseServiceSettings
from shared.web import setup_app


def test_the_app_exports_the_configured_stream_cap() -> None:
    setup_app(FastAPI(), "test", {}, settings=BaseServiceSettings(stream_maxlen=12_345))
    assert REGISTRY.get_sample_value("scops_stream_maxlen") == 12_345
