"""Moments in words ("since 9am", "since yesterday", "since Monday 14:00", "since 2026-12-01"),
read against an injected now (no I/O).

Times are UTC, the time every answer and the console show: a zone other than UTC said after a
time is refused, not guessed at. :func:`read_since` finds the first "since <moment>" of a
message and returns the message with it written as the look-back window it means ("in the last
32400s"), which the parser and the classifier read like any other window, with the moment, so
that the answer can say where its window starts. A moment still to come, more than the longest
window ago, or words after "since" that look like a time but are none ("since 25:00", "since
13pm") are refused, saying what is read instead; words that do not look like a time ("since it
is stuck") are left alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from services.gateway.chatops.durations import UNITS, said_seconds
from services.gateway.chatops.intents import MAX_WINDOW_S, MIN_LENGTH_S, TAKES
from services.gateway.chatops.replies import Answer, Outcome, Reply

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_WORDS = {d: i for i, d in enumerate(WEEKDAYS)} | {d[:3]: i for i, d in enumerate(WEEKDAYS)}
_WEEKDAY_WORDS |= {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
_WEEKDAY = "|".join(sorted(_WEEKDAY_WORDS, key=len, reverse=True))
_NAMED_DAY = rf"today|yesterday|(?:last\s+)?(?:{_WEEKDAY})"
_CLOCK = r"noon|midnight|\d{1,2}(?:[:.]\d{1,2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\d{1,2}:\d{1,2}"
_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_UNIT = "|".join(sorted(UNITS, key=len, reverse=True))
_LENGTH = rf"(?:\d+(?:\.\d+)?|an?|one|two|three|half\s+an?)\s*(?:{_UNIT})"
# Zones people name after a time: refused (times are UTC), never read as words.
_ZONES = (
    "est|edt|cst|cdt|mst|mdt|pst|pdt|akst|akdt|hst|bst|ist|cet|cest|eet|eest|wet|west|msk|jst"
    "|kst|aest|aedt|acst|acdt|awst|nzst|nzdt|sgt|hkt|pht|wib"
)
_SINCE = re.compile(
    rf"\bsince\s+(?:"
    rf"(?P<ago>{_LENGTH})(?:\s+ago)?"
    rf"|(?P<iso>{_DATE}t\d{{1,2}}:\d{{1,2}}(?::\d{{1,2}})?)"
    rf"|(?P<day>{_NAMED_DAY}|{_DATE})(?:\s+(?:at\s+)?(?P<clock>{_CLOCK}))?"
    rf"|(?P<alone>{_CLOCK})(?:\s+(?:on\s+)?(?P<then>{_NAMED_DAY}))?"
    rf")(?:\s*(?P<zone>utc|gmt|z|{_ZONES}|[+-]\d{{1,2}}(?::?\d{{2}})?))?(?![\w:])",
    re.IGNORECASE,
)
# After "since": what looks like a time but was not read as one.
_TIME_LIKE = re.compile(
    r"\bsince\s+(?P<said>tomorrow|tonight|next\s+[a-z]+|\d+:\S*|\d+-\d\S*"
    r"|\d[\d.]*\s*(?:am|pm|a\.m\.|p\.m\.)\S*|\d+(?=\s*$|\s*[,;!?]))",
    re.IGNORECASE,
)
SAY_INSTEAD = (
    "say e.g. `since 9am`, `since 14:30`, `since yesterday`, `since Monday`, "
    "`since 2026-12-01 06:00` (UTC) or `in the last 3h`"
)
TOO_LONG_AGO = (
    "more than 30 days ago: a look-back window is 1 minute to 30 days. Nothing was looked up."
)
_UTC = frozenset({"utc", "gmt", "z", "+0", "+00", "+0000", "+00:00", "-0", "-00", "-00:00"})


@dataclass(frozen=True)
class Since:
    """A moment read: the message with it written as a window, and where that window starts."""

    text: str
    start: datetime
    said: str
    window_s: int


@dataclass(frozen=True)
class NoMoment:
    """Words after "since" that name no moment to look back from: the answer, nothing else."""

    refusal: str


class _UnreadableError(ValueError):
    pass


def read_since(text: str, now: datetime) -> Since | NoMoment | None:
    """The first "since <moment>" in ``text`` (None: there is none, or its words do not look
    like a time)."""
    match = _SINCE.search(text)
    if match is None:
        return _not_a_moment(text, now)
    said = " ".join(match.group(0).split()[1:])
    zone = (match.group("zone") or "").lower()
    if zone and zone not in _UTC:
        return NoMoment(
            f"I read times in UTC only, not `{match.group('zone')}`: say the time in UTC "
            f"({_now(now)}), or a length, e.g. `in the last 3h`. Nothing was looked up."
        )
    try:
        start = _start(match, now)
    except _UnreadableError:
        return NoMoment(f"I cannot read `{said}` as a time: {SAY_INSTEAD}. Nothing was looked up.")
    except OverflowError:  # so long ago that it is before the calendar
        return NoMoment(f"`since {said}` is {TOO_LONG_AGO}")
    if start > now:
        instead = f"`since yesterday {said}`" if match.group("alone") else "a moment in the past"
        return NoMoment(
            f"`since {said}` is {_utc(start)}, which is still to come ({_now(now)}). "
            f"Nothing was looked up: say {instead}."
        )
    window = max(MIN_LENGTH_S, math.ceil((now - start).total_seconds()))
    if window > MAX_WINDOW_S:
        return NoMoment(f"`since {said}` is {_utc(start)}, {TOO_LONG_AGO}")
    written = f"in the last {window}s"
    return Since(text[: match.start()] + written + text[match.end() :], start, said, window)


def _not_a_moment(text: str, now: datetime) -> NoMoment | None:
    odd = _TIME_LIKE.search(text)
    if odd is None:
        return None
    said = odd.group("said")
    if re.fullmatch(r"tomorrow|tonight|next\s+[a-z]+", said, re.IGNORECASE):
        return NoMoment(
            f"`since {said}` is still to come ({_now(now)}). Nothing was looked up: "
            "say a moment in the past."
        )
    return NoMoment(f"I cannot read `{said}` as a time: {SAY_INSTEAD}. Nothing was looked up.")


def _utc(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment:%m-%d %H:%M} UTC"  # %Y is "1" for the year 1


def _now(now: datetime) -> str:
    return f"it is {WEEKDAYS[now.weekday()].capitalize()} {now:%Y-%m-%d %H:%M} UTC now"


def _start(match: re.Match[str], now: datetime) -> datetime:
    if match.group("ago"):
        seconds = said_seconds(match.group("ago"))
        if seconds is None:
            raise _UnreadableError
        return now - timedelta(seconds=seconds)
    if match.group("iso"):
        try:
            return datetime.fromisoformat(match.group("iso").upper()).replace(tzinfo=UTC)
        except ValueError as exc:
            raise _UnreadableError from exc
    day = match.group("day") or match.group("then")
    clock = match.group("clock") or match.group("alone")
    when = _clock(clock) if clock else time(0, 0)
    return datetime.combine(_day(day, now), when, tzinfo=UTC)


def _day(day: str | None, now: datetime) -> date:
    today = now.date()
    word = " ".join((day or "today").lower().split())
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    if re.fullmatch(_DATE, word):
        try:
            return date(*(int(part) for part in word.split("-")))
        except ValueError as exc:
            raise _UnreadableError from exc
    weekday = _WEEKDAY_WORDS[word.removeprefix("last ").strip()]
    back = (today.weekday() - weekday) % 7
    if word.startswith("last ") and back == 0:
        back = 7  # "since last Monday" said on a Monday: a week ago
    return today - timedelta(days=back)


def _clock(said: str) -> time:
    word = said.lower().replace("a.m.", "am").replace("p.m.", "pm").replace(" ", "")
    word = word.replace(".", ":")  # "9.30am"
    if word in ("noon", "midnight"):
        return time(12 if word == "noon" else 0, 0)
    half = word[-2:] if word.endswith(("am", "pm")) else None
    hour_said, _, minute_said = (word[:-2] if half else word).partition(":")
    hour, minute = int(hour_said), int(minute_said or 0)
    if half is not None:
        if not 1 <= hour <= 12:
            raise _UnreadableError
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59 or (minute_said and len(minute_said) != 2):
        raise _UnreadableError
    return time(hour, minute)


def no_moment_answer(moment: NoMoment) -> Answer:
    return Answer(Outcome.REFUSED, moment.refusal, {"refused": "moment"})


def with_moment(reply: Reply, moment: Since) -> Answer:
    """The answer saying where its window starts, or that the moment said was not used."""
    answer, chat = reply.answer, reply.intent
    if chat is None:
        return answer
    if "window_s" in TAKES[chat.intent] and chat.entities.window_s == moment.window_s:
        start = moment.start
        note = f"(since {start:%A %Y-%m-%d %H:%M} UTC)"
        data = {**answer.data, "since": start.isoformat()}
    else:
        note = f"(`since {moment.said}` is not used: I read `{chat.as_command()}`)"
        data = answer.data
    return Answer(answer.outcome, f"{note}\n{answer.text}", data, answer.markup)
