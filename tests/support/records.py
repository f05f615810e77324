"""The remediation records stream as tests read it: every decision the remediator recorded,
oldest first, each checked to be a remediation record."""

from __future__ import annotations

import redis

from shared.events import RemediationRecord, RemediationStatus, decode_event
from shared.streams import REMEDIATIONS


def remediation_records(client: redis.Redis) -> list[RemediationRecord]:
    found = []
    for _, fields in client.xrange(REMEDIATIONS):
        event = decode_event(fields[b"type"].decode(), fields[b"data"])
        assert isinstance(event, RemediationRecord)
        found.append(event)
    return found


def first_record(client: redis.Redis, status: RemediationStatus) -> RemediationRecord | None:
    """The oldest record with ``status``; None while there is none yet."""
    return next((r for r in remediation_records(client) if r.status == status), None)
