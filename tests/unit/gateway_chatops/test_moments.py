"""Moments said after "since", read against a fixed now (Thursday 2026-11-26 18:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.gateway.chatops.moments import NoMoment, Since, read_since

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # a Thursday


def at(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("what happened since 9am", at(2026, 11, 26, 9, 0)),
        ("anomalies since 9:30 pm yesterday", at(2026, 11, 25, 21, 30)),
        ("anomalies since 9.30am", at(2026, 11, 26, 9, 30)),
        ("since 14:30", at(2026, 11, 26, 14, 30)),
        ("since 14:30 UTC", at(2026, 11, 26, 14, 30)),
        ("since noon", at(2026, 11, 26, 12, 0)),
        ("since midnight", at(2026, 11, 26, 0, 0)),
        ("since today", at(2026, 11, 26, 0, 0)),
        ("anomalies since yesterday", at(2026, 11, 25, 0, 0)),
        ("summary since yesterday at 6am", at(2026, 11, 25, 6, 0)),
        ("since Monday", at(2026, 11, 23, 0, 0)),
        ("since mon 14:00", at(2026, 11, 23, 14, 0)),
        ("since thursday", at(2026, 11, 26, 0, 0)),  # today is Thursday
        ("since last thursday", at(2026, 11, 19, 0, 0)),
        ("since 2026-11-25", at(2026, 11, 25, 0, 0)),
        ("since 2026-11-25 06:15", at(2026, 11, 25, 6, 15)),
        ("since 2026-11-25T06:15Z", at(2026, 11, 25, 6, 15)),
        ("since 2 hours ago", at(2026, 11, 26, 16, 0)),
        ("since 90 minutes", at(2026, 11, 26, 16, 30)),
    ],
)
def test_a_moment_becomes_the_window_back_to_it(text: str, start: datetime) -> None:
    read = read_since(text, NOW)
    assert isinstance(read, Since)
    assert read.start == start
    assert read.window_s == int((NOW - start).total_seconds())
    assert f"in the last {read.window_s}s" in read.text and "since" not in read.text


def test_the_words_around_a_moment_are_kept() -> None:
    read = read_since("critical anomalies since 9am on web-1", NOW)
    assert isinstance(read, Since)
    assert read.text == "critical anomalies in the last 32400s on web-1"


def test_a_word_after_a_time_is_not_taken_for_a_zone() -> None:
    read = read_since("what happened since 9am just now", NOW)
    assert isinstance(read, Since) and read.text == "what happened in the last 32400s just now"
    assert isinstance(read_since("since 9am EST", NOW), NoMoment)


def test_a_moment_just_past_is_the_shortest_window() -> None:
    read = read_since("since 18:00", NOW)
    assert isinstance(read, Since) and read.window_s == 60


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("since 9pm", "is 2026-11-26 21:00 UTC, which is still to come"),
        ("since 9pm", "say `since yesterday 9pm`"),
        ("since tomorrow", "`since tomorrow` is still to come"),
        ("since next monday", "is still to come"),
        ("since 2026-12-25", "is 2026-12-25 00:00 UTC, which is still to come"),
        ("since 25:00", "I cannot read `25:00` as a time"),
        ("since 13pm", "I cannot read `13pm` as a time"),
        ("since 9:75", "I cannot read `9:75` as a time"),
        ("since 9", "I cannot read `9` as a time"),
        ("since 2026-02-30", "I cannot read `2026-02-30` as a time"),
        ("since 9am PST", "I read times in UTC only, not `PST`"),
        ("since 14:00 +02:00", "I read times in UTC only, not `+02:00`"),
        ("since 2026-09-01", "more than 30 days ago"),
        ("since 99999999999999999999 hours ago", "`since 99999999999999999999 hours ago` is more"),
        ("since 0001-01-01", "is 0001-01-01 00:00 UTC, more than 30 days ago"),
        ("since 10000-01-01", "I cannot read `10000-01-01` as a time"),
    ],
)
def test_a_moment_to_come_or_no_moment_at_all_is_refused_in_words(text: str, words: str) -> None:
    read = read_since(text, NOW)
    assert isinstance(read, NoMoment)
    assert words in read.refusal
    assert "Nothing was looked up" in read.refusal
    assert (
        "Thursday 2026-11-26 18:00 UTC" in read.refusal
        or "cannot read" in read.refusal
        or ("30 days" in read.refusal)
    )


@pytest.mark.parametrize(
    "text",
    [
        "anomalies in the last 2 hours",
        "restart nginx on web-1 since it is stuck",
        "since when is web-1 slow",
        "what happened overnight",
    ],
)
def test_words_that_are_no_time_are_left_alone(text: str) -> None:
    assert read_since(text, NOW) is None
