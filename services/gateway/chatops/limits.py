"""The range each number said in ChatOps must fall in, and how it is said to people (no I/O).

A value outside its range ("silence web-1 for 0m", "scale out web-asg by 1000") is refused
with the range, never replaced by a value inside it: a following "yes" must do what was asked
or nothing.
"""

from __future__ import annotations

from pydantic import ValidationError

from services.gateway.chatops.durations import say_duration
from services.gateway.chatops.intents import (
    MAX_COUNT,
    MAX_SILENCE_S,
    MAX_WINDOW_S,
    MIN_COUNT,
    MIN_LENGTH_S,
    ChatIntent,
    IntentName,
)
from services.gateway.chatops.replies import NotUnderstood

RANGES: dict[str, tuple[int, int]] = {
    "duration_s": (MIN_LENGTH_S, MAX_SILENCE_S),
    "window_s": (MIN_LENGTH_S, MAX_WINDOW_S),
    "count": (MIN_COUNT, MAX_COUNT),
}
_BOUND_ERRORS = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})


def range_words(intent: IntentName, name: str) -> str:
    """The allowed range of entity ``name`` of ``intent``, in words."""
    if name == "count":
        if intent is IntentName.NOISIEST:
            return f"the noisiest list shows the top {MIN_COUNT} to {MAX_COUNT}"
        return f"scale by {MIN_COUNT} to {MAX_COUNT} instances"
    low, high = RANGES[name]
    span = f"{_length(low)} to {_length(high)}"
    if name == "window_s":
        return f"a look-back window is {span}"
    if intent is IntentName.START_MAINTENANCE:
        return f"a maintenance window lasts {span}"
    return f"a silence lasts {span}"


def _length(seconds: int) -> str:
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {name}" + ("" if count == 1 else "s")
    return f"{seconds} seconds"


def refusal(intent: IntentName, name: str, value: int) -> str:
    if name == "count":
        said = str(value)
    else:
        said = f"-{say_duration(-value)}" if value < 0 else say_duration(value)
    return (
        f"`{said}` is out of range: {range_words(intent, name)}. "
        "Nothing was done: send it again with a value in that range."
    )


def out_of_range(intent: IntentName, exc: ValidationError) -> str | None:
    """The refusal for the first ranged value ``exc`` rejects, or None if it rejects none."""
    for error in exc.errors():
        name = str(error["loc"][-1]) if error["loc"] else ""
        value = error.get("input")
        if name in RANGES and error["type"] in _BOUND_ERRORS and isinstance(value, int):
            return refusal(intent, name, value)
    return None


def build(intent: IntentName, **entities: object) -> ChatIntent | NotUnderstood:
    """``ChatIntent.of``, with a value out of its range refused in words."""
    try:
        return ChatIntent.of(intent, **entities)
    except ValidationError as exc:
        words = out_of_range(intent, exc)
        if words is None:
            raise
        return NotUnderstood(refusal=words)
