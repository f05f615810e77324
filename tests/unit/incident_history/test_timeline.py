"""What each event adds to an incident, and the incident's summary, without a database."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime

import pytest

from services.history.core.cursors import (
    CursorError,
    incident_cursor,
    read_audit_cursor,
    read_incident_cursor,
)
from services.history.core.export import AUDIT_COLUMNS, audit_row, csv_rows
from services.history.core.steps import Steps, episode_of, steps_of
from services.history.core.summary import ordered, summarize
from shared.events import (
    ApprovalVote,
    Event,
    NotificationStatus,
    RemediationRecord,
    RemediationStatus,
    Severity,
    decode_event,
)
from shared.incidents import IncidentKind, IncidentStatus, TimelineEntry, TimelineKind
from tests.support.incident_story import (
    blocked_incident,
    escalation,
    manual_request,
    opener,
    resolution,
    told,
    whole_incident,
)

START = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


def _steps(events: list[Event]) -> list[Steps]:
    found = [steps_of(e) for e in events]
    assert all(s is not None for s in found)
    return [s for s in found if s is not None]


def _timeline(events: list[Event]) -> list[TimelineEntry]:
    """The entries as the store files them: by key, once each."""
    entries = {key: entry for s in _steps(events) for key, entry in s.entries}
    return list(entries.values())


def test_an_escalation_belongs_to_the_episode_its_first_sample_opened() -> None:
    first = opener("web-1", "cpu_utilization", START)
    worse = escalation(first, Severity.CRITICAL, 30)
    assert episode_of(first) == first.event_id
    assert episode_of(worse) == first.event_id
    steps = steps_of(worse)
    assert steps is not None and steps.incident_id == first.event_id
    assert [e.kind for _, e in steps.entries] == [TimelineKind.ESCALATION]


def test_an_alert_without_a_derived_id_is_an_incident_of_its_own() -> None:
    alert = opener("web-1", "up", START, event_id=uuid.uuid4(), detectors=["alertmanager"])
    steps = steps_of(alert)
    assert steps is not None and steps.incident_id == alert.event_id
    assert {e.actor for _, e in steps.entries} == {"alertmanager"}


def test_an_alert_starts_firing_rather_than_leaving_a_range_it_never_had() -> None:
    """An Alertmanager alert has no expected range (its value is both bounds): its first step
    said "HighCPU of web-1 left its expected range"; a detector's still does."""
    alert = opener(
        "web-1",
        "HighCPU",
        START,
        detectors=["alertmanager"],
        value=1.0,
        expected_low=1.0,
        expected_high=1.0,
    )
    first = _timeline([alert])[0]
    assert first.kind == TimelineKind.FIRST_OUT_OF_RANGE
    assert first.summary == "HighCPU on web-1 started firing in Alertmanager"
    sample = _timeline([opener("web-1", "cpu_utilization", START)])[0]
    assert sample.summary == "cpu_utilization of web-1 left its expected range"


def test_the_whole_story_reads_in_order_with_who_did_each_step() -> None:
    events = whole_incident("web-1", "cpu_utilization", START)
    incident = events[0].event_id
    summary = summarize(incident, _timeline(events))
    assert summary.status == IncidentStatus.RESOLVED
    assert summary.severity == Severity.CRITICAL
    assert summary.opened_at == START
    assert summary.rule == "cpu-restart"
    assert summary.action == "restart_service"
    assert summary.action_outcome == RemediationStatus.VERIFIED.value
    assert summary.events == 11  # the opener tells two steps
    steps = ordered(_timeline(events))
    assert [s.kind for s in steps][:3] == [
        TimelineKind.FIRST_OUT_OF_RANGE,
        TimelineKind.ANOMALY,
        TimelineKind.NOTIFICATION,
    ]
    approval = next(s for s in steps if s.status == "approved")
    assert approval.kind == TimelineKind.APPROVAL and approval.actor == "alice"
    action = next(s for s in steps if s.status == "succeeded")
    assert action.actor == "ssm"
    assert action.detail["output_excerpt"] == "nginx restarted"
    assert action.detail["exit_code"] == 0
    assert steps[-1].kind == TimelineKind.RESOLUTION


def test_every_approver_is_in_the_approval_step_and_the_audit_export() -> None:
    events = whole_incident("web-1", "cpu_utilization", START)
    votes = [
        ApprovalVote(by="alice", person="person:alice", via="slack", at=START),
        ApprovalVote(by="bob", person="person:bob", via="api_key", at=START),
    ]
    events = [
        e.model_copy(update={"votes": votes, "decided_by": "alice, bob"})
        if isinstance(e, RemediationRecord) and e.status == RemediationStatus.APPROVED
        else e
        for e in events
    ]
    approval = next(s for s in _timeline(events) if s.status == "approved")
    assert approval.actor == "alice, bob"
    assert [(v["by"], v["via"]) for v in approval.detail["votes"]] == [
        ("alice", "slack"),
        ("bob", "api_key"),
    ]
    (record,) = [e for e in events if isinstance(e, RemediationRecord) and e.votes]
    row = dict(zip(AUDIT_COLUMNS, audit_row(record), strict=True))
    assert [v["via"] for v in row["votes"]] == ["slack", "api_key"]


def test_a_record_written_before_votes_reads_with_its_decider_only() -> None:
    events = whole_incident("web-1", "cpu_utilization", START)
    (approved,) = [e for e in events if isinstance(e, RemediationRecord) and e.status == "approved"]
    stored = approved.model_dump(mode="json", exclude={"votes"}) | {"schema_version": "1.4"}
    old = decode_event(RemediationRecord.TYPE, json.dumps(stored))
    steps = steps_of(old)
    assert steps is not None
    ((_, step),) = steps.entries
    assert step.actor == "alice" and step.detail["votes"] == []


def test_a_refusal_names_the_check_that_refused() -> None:
    events = blocked_incident("db-1", "disk_used", START)
    refused = next(e for e in _timeline(events) if e.status == "blocked")
    assert refused.kind == TimelineKind.DECISION
    assert refused.detail["check"] == "cooldown"
    assert "by cooldown" in refused.summary


def test_the_summary_is_the_same_whatever_order_and_repeats_the_steps_came_in() -> None:
    events = whole_incident("web-1", "cpu_utilization", START)
    incident = events[0].event_id
    expected = summarize(incident, _timeline(events))
    shuffler = random.Random(7)
    for _ in range(20):
        mixed = events + shuffler.sample(events, 3)
        shuffler.shuffle(mixed)
        assert summarize(incident, _timeline(mixed)) == expected


def test_an_open_incident_has_no_resolution_time() -> None:
    events = whole_incident("web-1", "cpu_utilization", START)[:-1]
    summary = summarize(events[0].event_id, _timeline(events))
    assert summary.status == IncidentStatus.OPEN and summary.resolved_at is None


def test_incident_cursors_survive_the_round_trip_to_the_microsecond() -> None:
    for micros in (0, 1, 999_999, 123_456):
        moment = START.replace(microsecond=micros)
        ident = uuid.uuid4()
        assert read_incident_cursor(incident_cursor(moment, ident)) == (moment, ident)


@pytest.mark.parametrize("cursor", ["", "???", "bm90LWEtY3Vyc29y", "MTIzNDU2"])
def test_a_cursor_not_given_out_is_refused(cursor: str) -> None:
    with pytest.raises(CursorError):
        read_incident_cursor(cursor)


@pytest.mark.parametrize("cursor", ["", "-1", "1e3", "9" * 19, "١٢"])
def test_an_audit_cursor_is_a_row_number(cursor: str) -> None:
    with pytest.raises(CursorError):
        read_audit_cursor(cursor)


def test_csv_cells_a_spreadsheet_would_run_are_defused() -> None:
    text = csv_rows([['=HYPERLINK("x")', "+1+1", "-3", "@SUM(A1)", "plain", None, {"a": 1}]])
    assert text == '"\'=HYPERLINK(""x"")",\'+1+1,-3,\'@SUM(A1),plain,,"{""a"": 1}"\r\n'


def test_every_kind_of_step_is_reachable_from_some_event() -> None:
    events = whole_incident("web-1", "cpu_utilization", START) + blocked_incident(
        "db-1", "disk_used", START
    )
    kinds = {e.kind for e in _timeline(events)}
    missing = set(TimelineKind) - kinds - {TimelineKind.FEEDBACK}
    assert missing == set()


def test_a_manual_request_is_not_an_open_incident_once_its_action_ended() -> None:
    for ending in (
        RemediationStatus.DRY_RUN,
        RemediationStatus.SUCCEEDED,
        RemediationStatus.FAILED,
        RemediationStatus.BLOCKED,
        RemediationStatus.REJECTED,
        RemediationStatus.EXPIRED,
    ):
        events = manual_request("web-asg", START, [RemediationStatus.PENDING_APPROVAL, ending])
        summary = summarize(events[0].anomaly_id, _timeline(list(events)))
        assert summary.kind == IncidentKind.MANUAL
        assert summary.status == IncidentStatus.CLOSED, ending
        assert summary.action_outcome == ending.value


def test_a_manual_request_is_open_while_its_action_waits_or_runs() -> None:
    for waiting in (RemediationStatus.PENDING_APPROVAL, RemediationStatus.RUNNING):
        events = manual_request("web-asg", START, [waiting])
        summary = summarize(events[0].anomaly_id, _timeline(list(events)))
        assert (summary.kind, summary.status) == (IncidentKind.MANUAL, IncidentStatus.OPEN)


def test_an_anomaly_not_yet_resolved_stays_an_open_incident_of_its_series() -> None:
    events = blocked_incident("web-1", "cpu_utilization", START)[:-1]  # not yet resolved
    summary = summarize(events[0].event_id, _timeline(events))
    assert (summary.kind, summary.status) == (IncidentKind.ANOMALY, IncidentStatus.OPEN)


def test_a_notification_step_says_where_the_message_went_and_who_kept_it() -> None:
    first = opener("web-1", "cpu_utilization", START)
    delivered = told(first, "anomaly", 1)
    kept = delivered.model_copy(
        update={"event_id": uuid.uuid4(), "channel": "outbox", "status": NotificationStatus.OUTBOX}
    )
    failed = delivered.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "status": NotificationStatus.FAILED,
            "attempts": 5,
            "receiver": "pager",
            "channel": "webhook",
        }
    )
    lines = {}
    for event in (delivered, kept, failed):
        steps = steps_of(event)
        assert steps is not None
        entry = steps.entries[0][1]
        lines[event.status] = (entry.actor, entry.summary)
    assert lines == {
        NotificationStatus.DELIVERED: ("slack", "anomaly message delivered to Slack"),
        NotificationStatus.OUTBOX: (
            "notifier",
            "anomaly message kept in the outbox (no Slack webhook configured)",
        ),
        NotificationStatus.FAILED: ("notifier", "anomaly message to pager failed after 5 attempts"),
    }


def test_a_series_gone_silent_closes_its_incident_as_no_data_not_recovered() -> None:
    first = opener("web-7", "cpu_utilization", START)
    gone = resolution(first, 1800).model_copy(update={"reason": "no_data"})
    steps = ordered(_timeline([first, gone]))
    last = steps[-1]
    assert last.kind == TimelineKind.RESOLUTION
    assert "went silent" in last.summary and "not recovered" in last.summary
    assert "back to normal" not in last.summary
    assert last.detail["reason"] == "no_data"
    assert summarize(first.event_id, _timeline([first, gone])).status == IncidentStatus.RESOLVED


def test_an_anomaly_never_raised_ends_with_its_actions_story() -> None:
    """``POST /remediation/test`` decides on a synthetic anomaly that is never raised: its
    incident is not left open for ever, waiting for a resolution that cannot come."""
    records = [
        record.model_copy(update={"metric": "cpu_utilization", "anomaly_observed_at": START})
        for record in manual_request("web-1", START, [RemediationStatus.DRY_RUN])
    ]
    summary = summarize(records[0].anomaly_id, _timeline(list(records)))
    assert (summary.kind, summary.status) == (IncidentKind.ANOMALY, IncidentStatus.CLOSED)
    waiting = [
        record.model_copy(update={"metric": "cpu_utilization", "anomaly_observed_at": START})
        for record in manual_request("web-1", START, [RemediationStatus.PENDING_APPROVAL])
    ]
    summary = summarize(waiting[0].anomaly_id, _timeline(list(waiting)))
    assert summary.status == IncidentStatus.OPEN
