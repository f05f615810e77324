"""The expected range as the console's tables show it (low, an en dash, high)."""

from __future__ import annotations

from services.gateway.console.rendering import ENVIRONMENT

DASH = "\u2013"


def _expected(value: float, low: float, high: float) -> str:
    module = ENVIRONMENT.get_template("macros.html").module
    shown: str = str(
        module.expected({"value": value, "expected_low": low, "expected_high": high})  # type: ignore[attr-defined]
    )
    return shown.strip()


def test_an_alertmanager_alert_shows_no_range_it_never_had() -> None:
    """An alert posted to the gateway has its value as both bounds: "1 to 1" beside the value
    1 read as a value inside its range."""
    assert _expected(1.0, 1.0, 1.0) == "\u2014"


def test_a_detectors_band_is_shown_however_narrow() -> None:
    assert _expected(97.5, 28.09, 42.2) == f"28.09 {DASH} 42.2"
    assert _expected(5.0, 0.0, 0.0) == f"0 {DASH} 0"
