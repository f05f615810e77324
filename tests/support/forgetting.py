"""The detector's forgetting walk, run to its end (it goes a slice at a time in production)."""

from __future__ import annotations

from services.detector.detection_engine import DetectionEngine


def forget_all(engine: DetectionEngine, after_s: float) -> int:
    """One whole walk over the engine's series; how many it forgot."""
    forgotten = 0
    while True:
        forgetting = engine.forget_silent(after_s)
        forgotten += forgetting.forgotten
        if forgetting.done:
            return forgotten
