"""Lengths of time in words ("2h", "90 minutes", "an hour", "1 day 12 hours"), both ways
(no I/O)."""

from __future__ import annotations

import re
from fractions import Fraction

UNITS: dict[str, int] = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "wk": 604800,
    "week": 604800,
    "weeks": 604800,
}
_AMOUNT = r"\d+(?:\.\d+)?|an?|one|two|three|half an?|half a"
_PART = re.compile(rf"({_AMOUNT})\s*([a-z]+)", re.IGNORECASE)
_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3}
# More digits than any length of time anyone means: not read as a time at all.
_MOST_DIGITS = 24


def parse_duration(text: str) -> int | None:
    """Seconds in ``text`` ("2h", "1 hour 30 minutes", "half an hour"), or None if it is not
    only a length of time, or a length of no time ("0m")."""
    seconds = said_seconds(text)
    return seconds if seconds else None


def said_seconds(text: str) -> int | None:
    """Like :func:`parse_duration`, but "0m" is 0: what was said, for a caller that refuses a
    value out of its range rather than not understanding it."""
    text = text.strip().lower().replace(",", " ").replace(" and ", " ")
    if not text:
        return None
    # Exact arithmetic: "99999999999999 hours" is that many hours, said back as such when
    # refused, not 359999999999996416 seconds of float rounding.
    total, position = Fraction(0), 0
    for match in _PART.finditer(text):
        if text[position : match.start()].strip():
            return None
        amount, unit = match.group(1), match.group(2)
        if unit not in UNITS:
            return None
        if len(amount) > _MOST_DIGITS:
            return None
        if amount.startswith("half"):
            value = Fraction(1, 2)
        else:
            value = Fraction(_WORDS.get(amount, amount))
        total += value * UNITS[unit]
        position = match.end()
    if position == 0 or text[position:].strip():
        return None
    return round(total)


def parse_window(text: str) -> int | None:
    """Seconds of a look-back window: "the last hour", "past 30 minutes", "last 2 days" ("the
    last 0 minutes" is 0, for the caller to refuse)."""
    match = re.fullmatch(
        r"(?:(?:in|from|during|over|within|for)\s+)?(?:the\s+)?(?:last|past)\s+(.+)",
        text.strip(),
        re.IGNORECASE,
    )
    if match is None:
        return None
    rest = match.group(1).strip()
    single = re.fullmatch(r"([a-z]+)", rest, re.IGNORECASE)
    if single and single.group(1).lower() in UNITS:
        return UNITS[single.group(1).lower()]
    return said_seconds(rest)


def say_duration(seconds: int) -> str:
    """The shortest exact form the parser reads back: 7200 -> "2h", 5400 -> "90m"."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def say_window(seconds: int) -> str:
    """Like :func:`say_duration`, but a window back to a moment, which is rarely whole minutes,
    in parts: 41712 -> "11h35m12s" (not "41712s")."""
    if seconds < 120 or seconds % 60 == 0:
        return say_duration(seconds)
    parts, rest = [], seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def describe_duration(seconds: float) -> str:
    """For people: "2 h 5 min", "45 s", "3 d 4 h"."""
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def say_span(seconds: int) -> str:
    """A look-back window for people: 3600 -> "hour", 7200 -> "2 hours", 5400 -> "90 minutes"."""
    for name, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return name if count == 1 else f"{count} {name}s"
    if seconds < 120:
        return f"{seconds} seconds"
    exact = describe_duration(seconds)  # a window back to a moment: "2 h 12 min 27 s"
    return f"{exact} {seconds % 60} s" if seconds % 60 and seconds < 86400 else exact
