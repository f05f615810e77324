"""Durations in rules files and requests: ``90`` (seconds), ``30s``, ``5m``, ``1h``, ``1h30m``,
``2d``; finite, not negative, and at most ``MAX_DURATION_S`` (ten years), so a window ending
that long after any start still has a date."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# ASCII digits and plain spaces only, as the documented pattern says (``\d`` and ``strip()``
# also took full-width and other digits, tabs and line breaks: a body the document refuses).
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
MAX_DURATION_S = 3650 * 86400


def parse_duration(value: object) -> float:
    """Seconds in ``value``; refuses negatives, unknown units and what is not a duration."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 1h")
    if isinstance(value, int) and abs(value) > MAX_DURATION_S:
        seconds = math.inf if value > 0 else -math.inf  # float(value) could overflow
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.replace(" ", "")
        if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
            seconds = float(text)
        elif text and _PART.sub("", text) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 5m, 1h30m)")
    else:
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 1h")
    if math.isnan(seconds):
        raise ValueError("a duration is a number of seconds (NaN is not one)")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"a duration is at most {format_duration(MAX_DURATION_S)} (ten years)")
    return seconds


def format_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds or whole == 0:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# What a request may send, for API documentation and schema-driven clients.
DURATION_INPUT_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^ *([0-9]+(\.[0-9]+)?|([0-9]+(\.[0-9]+)? *[smhd] *)+) *$"},
    ],
    "description": "Seconds, or text like 30s, 5m, 1h30m, 2d.",
    "examples": ["2h", 90],
}
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(DURATION_INPUT_SCHEMA, mode="validation"),
]
