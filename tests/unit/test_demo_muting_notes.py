"""`scops demo` says up front what will keep its incident quiet (a silence left from a load
test, a maintenance window), instead of blaming grouping or pointing at the logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from scops.demo import muting_notes, no_notification_line

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def _silence(resource: str, **extra: object) -> dict[str, object]:
    return {
        "id": "5f0c2c1e-8b1a-4a4e-9a57-0d8f2f6a1b2c",
        "matchers": {"resource": resource},
        "starts_at": (NOW - timedelta(hours=1)).isoformat(),
        "ends_at": (NOW + timedelta(hours=1)).isoformat(),
        "created_by": "me",
        **extra,
    }


def _window(pattern: str, ends_in: timedelta) -> dict[str, object]:
    return {
        "id": "mw-0123456789ab",
        "target_pattern": pattern,
        "starts_at": (NOW - timedelta(hours=1)).isoformat(),
        "ends_at": (NOW + ends_in).isoformat(),
    }


def test_a_silence_on_the_incident_is_named_with_how_to_end_it() -> None:
    notes, muted = muting_notes("web-1-run3", [_silence("web-*")], [], NOW)
    assert muted
    (note,) = notes
    assert note.startswith("silence 5f0c2c1e-8b1a-4a4e-9a57-0d8f2f6a1b2c (resource web-*")
    assert note.endswith("DELETE /notifications/silences/5f0c2c1e-8b1a-4a4e-9a57-0d8f2f6a1b2c")
    told = no_notification_line(40, Path(".run/logs"), muted)
    assert told == "no notification within 40s: a silence mutes it (said above)"


def test_silences_elsewhere_or_only_for_approvals_mute_nothing() -> None:
    approvals_only = _silence("*", matchers={"resource": "*", "kinds": ["approval"]})
    ended = _silence("*", ends_at=(NOW - timedelta(minutes=1)).isoformat())
    notes, muted = muting_notes("web-1", [_silence("db-*"), approvals_only, ended], [], NOW)
    assert (notes, muted) == ([], False)


def test_an_active_maintenance_window_on_it_is_said_to_block_its_decision() -> None:
    windows = [_window("web-*", timedelta(hours=1)), _window("web-*", -timedelta(minutes=1))]
    notes, muted = muting_notes("web-1", [], windows, NOW)
    assert not muted
    (note,) = notes
    assert note.startswith("maintenance window mw-0123456789ab (web-*, until 2026-12-07 19:00")
    assert "its decision will be blocked" in note
