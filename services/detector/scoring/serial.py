"""Helpers for the strict-JSON checkpoint format (no NaN/inf literals in the output)."""

from __future__ import annotations

import math
from typing import Any

from .result import ScoreResult


def enc(x: float) -> float | None:
    """A float for JSON: non-finite values become ``None``."""
    return x if math.isfinite(x) else None


def dec(x: float | None, default: float) -> float:
    """Inverse of :func:`enc`; ``None`` becomes ``default`` (the non-finite original)."""
    return default if x is None else float(x)


def result_to_list(r: ScoreResult | None) -> list[Any] | None:
    """Compact list form of a result (kept in the checkpoint for duplicate delivery)."""
    if r is None:
        return None
    low, high = enc(r.expected_low), enc(r.expected_high)
    return [r.score, r.is_anomaly, low, high, list(r.detectors), r.warming_up, r.suppressed]


def result_from_list(x: list[Any] | None) -> ScoreResult | None:
    """Inverse of :func:`result_to_list`."""
    if x is None:
        return None
    return ScoreResult(
        float(x[0]),
        bool(x[1]),
        dec(x[2], math.nan),
        dec(x[3], math.nan),
        tuple(str(d) for d in x[4]),
        bool(x[5]),
        bool(x[6]),
    )
