"""The history in a real database (PostgreSQL and SQLite, the same code): written once
whatever the deliveries, read back by filter and page, pruned after the retention."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.history.core.steps import feedback_steps, steps_of
from services.history.store.database import sessions
from services.history.store.models import AuditRow, SilenceRow, StepRow
from services.history.store.reader import AuditFilter, HistoryReader, IncidentFilter
from services.history.store.upkeep import Upkeep
from services.history.store.writer import HistoryWriter
from shared.events import Event, RemediationStatus
from shared.incidents import IncidentStatus, TimelineKind
from tests.support.incident_story import blocked_incident, manual_request, whole_incident

START = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


def parts(engine: AsyncEngine) -> tuple[HistoryWriter, HistoryReader]:
    maker = sessions(engine)
    return HistoryWriter(engine, maker), HistoryReader(maker)


async def count(engine: AsyncEngine, table: type) -> int:
    async with sessions(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def write(writer: HistoryWriter, events: list[Event]) -> None:
    for event in events:
        await writer.record(event)


@pytest.mark.parametrize("batch", [1, 3, 100])
@pytest.mark.parametrize("seed", [3, 11])
async def test_an_incident_delivered_twice_and_out_of_order_is_recorded_once(
    engine: AsyncEngine, batch: int, seed: int
) -> None:
    writer, reader = parts(engine)
    events = whole_incident("web-1", "cpu_utilization", START)
    in_order = list(events)
    mixed = events + events[3:7]
    random.Random(seed).shuffle(mixed)
    for start in range(0, len(mixed), batch):
        await writer.record_many(mixed[start : start + batch])

    incident = await reader.incident(in_order[0].event_id)
    assert incident is not None
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.events == 11 == len(incident.timeline)
    assert await count(engine, StepRow) == 11
    assert await count(engine, AuditRow) == 4
    kinds = [s.kind for s in incident.timeline]
    assert kinds[0] == TimelineKind.FIRST_OUT_OF_RANGE and kinds[-1] == TimelineKind.RESOLUTION
    assert kinds.count(TimelineKind.NOTIFICATION) == 3
    approval = next(s for s in incident.timeline if s.status == "approved")
    assert (approval.actor, approval.at) == ("alice", in_order[5].occurred_at)
    page = await reader.incidents(IncidentFilter(), 10)
    assert [i.id for i in page.items] == [in_order[0].event_id]  # no stand-in left behind
    for later in in_order[2:4]:  # an escalation, a decision
        found = await reader.incident(later.event_id)
        assert found is not None and found.id == in_order[0].event_id


async def test_feedback_joins_the_incident_of_the_anomaly_it_is_about(
    engine: AsyncEngine,
) -> None:
    writer, reader = parts(engine)
    events = blocked_incident("db-1", "disk_used", START)
    await write(writer, events)
    steps = feedback_steps(
        "1733421600000-0", events[0].event_id, "false_positive", "bob", "backup job", START
    )
    await writer.record_steps(steps)
    await writer.record_steps(steps)
    incident = await reader.incident(events[0].event_id)
    assert incident is not None
    feedback = [s for s in incident.timeline if s.kind == TimelineKind.FEEDBACK]
    assert [(s.actor, s.status) for s in feedback] == [("bob", "false_positive")]


async def _many(writer: HistoryWriter) -> list[Event]:
    """12 incidents: web-0..web-5 resolved after an approved action, db-0..db-5 blocked."""
    events: list[Event] = []
    for i in range(6):
        events += whole_incident(f"web-{i}", "cpu_utilization", START + timedelta(minutes=i))
        events += blocked_incident(f"db-{i}", "disk_used", START + timedelta(minutes=i, seconds=1))
    await write(writer, events)
    return events


async def test_filters_and_pages_walk_every_incident_once_newest_first(
    engine: AsyncEngine,
) -> None:
    writer, reader = parts(engine)
    await _many(writer)
    seen, cursor = [], None
    while True:
        page = await reader.incidents(IncidentFilter(), 5, cursor)
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len({i.id for i in seen}) == 12
    assert [i.opened_at for i in seen] == sorted((i.opened_at for i in seen), reverse=True)

    async def ids(where: IncidentFilter) -> set[str]:
        return {i.resource_id for i in (await reader.incidents(where, 100)).items}

    assert await ids(IncidentFilter(resource_id="web-3")) == {"web-3"}
    assert await ids(IncidentFilter(resource_id="db-*")) == {f"db-{i}" for i in range(6)}
    assert await ids(IncidentFilter(severities=["medium"])) == {f"db-{i}" for i in range(6)}
    assert await ids(IncidentFilter(outcome="blocked")) == {f"db-{i}" for i in range(6)}
    assert await ids(IncidentFilter(outcome="verified", rule="cpu-restart")) == {
        f"web-{i}" for i in range(6)
    }
    window = IncidentFilter(since=START + timedelta(minutes=2), until=START + timedelta(minutes=4))
    assert await ids(window) == {"web-2", "web-3", "db-2", "db-3"}
    assert await ids(IncidentFilter(status="open")) == set()
    assert await ids(IncidentFilter(resource_id="web_*")) == set()  # '_' is not a wildcard
    assert await ids(IncidentFilter(resource_id="WEB-*")) == set()  # case counts (SQLite too)
    assert await ids(IncidentFilter(resource_id="*")) == {i.resource_id for i in seen}


async def test_a_manual_request_is_listed_as_such_and_not_open_once_it_ended(
    engine: AsyncEngine,
) -> None:
    writer, reader = parts(engine)
    waiting = blocked_incident("db-1", "cpu_utilization", START)[:-1]  # an anomaly still firing
    ended = manual_request(
        "web-asg", START, [RemediationStatus.PENDING_APPROVAL, RemediationStatus.DRY_RUN]
    )
    asked = manual_request("api-asg", START, [RemediationStatus.PENDING_APPROVAL])
    await write(writer, [*waiting, *ended, *asked])

    async def listed(where: IncidentFilter) -> dict[str, tuple[str, str]]:
        page = await reader.incidents(where, 100)
        return {i.resource_id: (i.kind.value, i.status.value) for i in page.items}

    # open: the anomaly still firing and the request still waiting for its approval
    assert await listed(IncidentFilter(status="open")) == {
        "db-1": ("anomaly", "open"),
        "api-asg": ("manual", "open"),
    }
    assert await listed(IncidentFilter(kind="anomaly")) == {"db-1": ("anomaly", "open")}
    assert await listed(IncidentFilter(status="closed")) == {"web-asg": ("manual", "closed")}
    timeline = await reader.incident(ended[0].anomaly_id)
    assert timeline is not None
    assert [e.status for e in timeline.timeline] == ["pending_approval", "dry_run"]
    audit = await reader.audit(AuditFilter(resource_id="web-asg"), 10)
    assert {r.status.value for r in audit.items} == {"pending_approval", "dry_run"}


async def test_the_audit_log_pages_every_record_without_a_scan_limit(
    engine: AsyncEngine,
) -> None:
    writer, reader = parts(engine)
    events = await _many(writer)
    records = [e for e in events if e.TYPE == "remediation.record.v1"]
    seen, cursor = [], None
    while True:
        page = await reader.audit(AuditFilter(), 7, cursor)
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [r.event_id for r in seen] == [r.event_id for r in reversed(records)]
    blocked = await reader.audit(AuditFilter(status=RemediationStatus.BLOCKED.value), 100)
    assert {r.resource_id for r in blocked.items} == {f"db-{i}" for i in range(6)}
    assert all(r.blocked_by == "cooldown" for r in blocked.items)


async def test_retention_deletes_old_incidents_with_their_steps_and_keeps_the_rest(
    engine: AsyncEngine,
) -> None:
    writer, reader = parts(engine)
    old = whole_incident("web-old", "cpu_utilization", START - timedelta(days=400))
    new = whole_incident("web-new", "cpu_utilization", START)
    await write(writer, old + new)
    upkeep = Upkeep(engine, sessions(engine))
    deleted = await upkeep.prune(START - timedelta(days=365))
    assert deleted["incidents"] == 1 and deleted["audit"] == 4
    assert await reader.incident(old[0].event_id) is None
    assert await reader.incident(new[0].event_id) is not None
    assert await count(engine, StepRow) == 11


async def test_silences_are_copied_and_their_end_updated(engine: AsyncEngine) -> None:
    upkeep = Upkeep(engine, sessions(engine))
    silence = {
        "id": "s1",
        "matchers": {"resource": "web-*"},
        "created_by": "carol",
        "comment": "load test",
        "starts_at": "2026-12-05T18:00:00Z",
        "ends_at": "2026-12-05T20:00:00Z",
    }
    assert await upkeep.save_silences([silence, {"id": "broken"}], START) == 1
    # Read again at the next poll, unchanged: nothing new is recorded (the count feeds
    # history_events_recorded_total, which must not grow while nothing happens).
    assert await upkeep.save_silences([silence], START + timedelta(seconds=30)) == 0
    ended = {**silence, "ends_at": "2026-12-05T18:30:00Z"}
    assert await upkeep.save_silences([ended], START + timedelta(minutes=30)) == 1
    async with sessions(engine)() as session:
        rows = (await session.scalars(select(SilenceRow))).all()
    assert [(r.id, r.created_by, r.ends_at) for r in rows] == [
        ("s1", "carol", START + timedelta(minutes=30))
    ]


async def test_two_transactions_writing_one_incident_at_once_keep_both_in_its_summary(
    engine: AsyncEngine,
) -> None:
    """Two consumers (anomalies, remediations) write steps of one incident in transactions of
    their own at the same moment. Each works the summary out from the steps it sees: the one
    that commits last must see the other's, or the incident reads open and high with its
    escalation and resolution in the timeline."""
    writer, reader = parts(engine)
    events = whole_incident("web-1", "cpu_utilization", START)
    first, worse, *middle, resolved = events
    await writer.record_many([first])
    maker = sessions(engine)
    ours = maker()
    await ours.begin()
    await writer.write(ours, [s for s in map(steps_of, [worse, resolved]) if s is not None])
    theirs = asyncio.create_task(writer.record_many(middle))
    await asyncio.sleep(0.3)  # theirs runs while ours is open (or waits for it)
    await ours.commit()
    await ours.close()
    await asyncio.wait_for(theirs, timeout=10)

    incident = await reader.incident(first.event_id)
    assert incident is not None
    assert incident.events == 11 == len(incident.timeline)
    assert (incident.status, incident.severity.value) == (IncidentStatus.RESOLVED, "critical")
