"""Lengths of time in words."""

from __future__ import annotations

import pytest

from services.gateway.chatops.durations import (
    describe_duration,
    parse_duration,
    parse_window,
    say_duration,
    say_span,
    say_window,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("2 hours", 7200),
        ("90m", 5400),
        ("90 min", 5400),
        ("1h30m", 5400),
        ("1 hour 30 minutes", 5400),
        ("1 hour and 30 minutes", 5400),
        ("an hour", 3600),
        ("a day", 86400),
        ("half an hour", 1800),
        ("1.5h", 5400),
        ("two weeks", 1209600),
        ("45s", 45),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ages", "2 fortnights", "2h please", "h", "0s", "-1h"])
def test_parse_duration_refuses_what_is_not_only_a_duration(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("the last hour", 3600),
        ("in the last hour", 3600),
        ("past 30 minutes", 1800),
        ("over the last 2 days", 172800),
        ("last week", 604800),
    ],
)
def test_parse_window(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


def test_parse_window_needs_last_or_past() -> None:
    assert parse_window("2 hours") is None
    assert parse_window("in the next hour") is None


@pytest.mark.parametrize("seconds", [60, 90, 3600, 5400, 7200, 86400, 604800, 3 * 86400 + 60])
def test_say_duration_reads_back(seconds: int) -> None:
    assert parse_duration(say_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(41712, "11h35m12s"), (90061, "1d1h1m1s"), (7947, "2h12m27s"), (5400, "90m"), (90, "90s")],
)
def test_a_window_to_the_second_is_said_in_parts_that_read_back(seconds: int, said: str) -> None:
    assert say_window(seconds) == said
    assert parse_window(f"in the last {said}") == seconds


def test_words_for_people() -> None:
    assert say_span(3600) == "hour"
    assert say_span(7200) == "2 hours"
    assert say_span(5400) == "90 minutes"
    assert say_span(86400) == "day"
    assert say_span(7947) == "2 h 12 min 27 s"  # a window back to a moment ("since 9am")
    assert say_span(90) == "90 seconds"
    assert describe_duration(3725) == "1 h 2 min"
    assert describe_duration(45) == "45 s"
    assert describe_duration(2 * 86400 + 3600) == "2 d 1 h"
