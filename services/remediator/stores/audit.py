"""Publishing records (the remediations stream and the audit log) and querying the audit log.

Every record goes to ``scops:{remediations}`` (for the notifier) and to the audit stream, whose
entries carry the fields one filters on, so a query reads them without parsing every record.
A record written again (by the recovery of an attempt that died after writing it) has the same
id and enters the audit log once; the remediations stream may carry it twice, and its readers
go by the id. Queries page backwards in time with a cursor (the last entry id seen): a page
holds what is older than its cursor. A cursor is a stream entry id, ``<ms>-<seq>`` with each
part at most 2**64 - 1 (``check_cursor``); ``0-0`` is the oldest id there is, so nothing is
older and its page is empty, as is the page of an ``until`` before 1970 (no entry is older
than its stream).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
import structlog

from services.remediator.stores import redis_keys
from services.remediator.stores.dispatched import forget_commands
from services.remediator.stores.packed_calls import Arg, PackedCalls
from shared.bus import encode_event
from shared.events import RemediationRecord
from shared.identifiers import STREAM_ID_PART_MAX
from shared.streams import REMEDIATIONS

log = structlog.get_logger("remediator.audit")
_std_log = logging.getLogger("remediator.audit")  # the one ``log`` writes to (its level)

FILTERS = ("status", "action", "resource_id", "rule", "anomaly_id", "blocked_by")
SCAN_CHUNK = 500
SCAN_MAX = 20_000
# How long a record's id is remembered by the audit log: a record is written again only by
# the recovery of an attempt that died (the sweep's next passes, or a redelivery), well within.
WRITTEN_TTL_S = 86_400

# The audit entry of a record not already in the log (its id remembered in the log's slot).
# KEYS: the log, the record's mark; ARGV: the mark's TTL, the log's MAXLEN, the entry's fields.
APPEND_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
return false
"""


class RecordPublisher:
    def __init__(self, client: redis.Redis, *, maxlen: int, audit_maxlen: int) -> None:
        self.redis = client
        self.maxlen = maxlen
        self.audit_maxlen = audit_maxlen
        self.calls = PackedCalls(client)

    def publish(
        self,
        record: RemediationRecord,
        *,
        done_claim: str | None = None,
        claim_ttl_s: int = 0,
        before: Sequence[list[Arg]] = (),
    ) -> None:
        """Writes the record; with ``done_claim``, then marks that claim done (same round
        trip, in order: the claim is done only once the record is written). ``before``: writes
        sent ahead of the record in the same round trip (done whenever the record is)."""
        self.publish_many([record], done_claim=done_claim, claim_ttl_s=claim_ttl_s, before=before)

    def publish_many(
        self,
        records: list[RemediationRecord],
        *,
        done_claim: str | None = None,
        claim_ttl_s: int = 0,
        before: Sequence[list[Arg]] = (),
    ) -> None:
        """Writes ``before``, then the records in order, then marks ``done_claim`` done, in one
        round trip. A record (other than a shadow rule's) settles its anomaly and its rule's
        re-check: the sweep no longer sends them again (:mod:`.dispatched`)."""
        commands: list[list[Arg]] = list(before)
        for record in records:
            fields = [part for pair in encode_event(record).items() for part in pair]
            commands.append(["XADD", REMEDIATIONS, "MAXLEN", "~", self.maxlen, "*", *fields])
            index = [
                part for name in FILTERS for part in (name, _index_value(getattr(record, name)))
            ]
            # Sent whole (not by its hash): a batch has no second chance after NOSCRIPT.
            commands.append(
                [
                    "EVAL",
                    APPEND_ONCE,
                    2,
                    redis_keys.AUDIT,
                    redis_keys.audit_written(record.event_id),
                    WRITTEN_TTL_S,
                    self.audit_maxlen,
                    *fields,
                    *index,
                ]
            )
        if done_claim is not None:
            commands.append(["SET", done_claim, b"done", "EX", claim_ttl_s])
            commands.append(["DEL", redis_keys.lease(done_claim)])
        commands += forget_commands(records)
        self.calls.run(commands)
        if not _std_log.isEnabledFor(logging.INFO):
            return  # a dropped line still costs its fields and structlog's chain (~6 µs)
        for record in records:
            log.info(
                "remediation_recorded",
                anomaly_id=str(record.anomaly_id),
                action=record.action,
                status=record.status.value,
                blocked_by=record.blocked_by,
                rule=record.rule,
                target=record.target,
            )


def _index_value(value: object) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


@dataclass(frozen=True)
class AuditQuery:
    status: str | None = None
    action: str | None = None
    resource_id: str | None = None
    rule: str | None = None
    anomaly_id: str | None = None
    blocked_by: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None

    def wanted(self) -> dict[bytes, bytes]:
        return {
            name.encode(): str(getattr(self, name)).encode()
            for name in FILTERS
            if getattr(self, name) is not None
        }


@dataclass(frozen=True)
class AuditPage:
    records: list[RemediationRecord]
    next_cursor: str | None
    scanned: int


def _cursor_parts(cursor: str) -> tuple[int, int]:
    ms, _, seq = cursor.partition("-")
    if not all(p.isascii() and p.isdigit() and len(p) <= 20 for p in (ms, seq)):
        raise ValueError("a cursor is <ms>-<seq>, as next_cursor gives it")
    if int(ms) > STREAM_ID_PART_MAX or int(seq) > STREAM_ID_PART_MAX:
        raise ValueError(
            f"not a position in the audit log (each part is at most {STREAM_ID_PART_MAX})"
        )
    return int(ms), int(seq)


def check_cursor(cursor: str | None) -> str | None:
    """``cursor`` if it can be a stream entry id (``<ms>-<seq>``, each part within 64 bits);
    else ``ValueError``."""
    if cursor is not None:
        _cursor_parts(cursor)
    return cursor


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch; a time without a zone is UTC."""
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


def newest_bound(query: AuditQuery) -> str | None:
    """The highest entry id a query's page may hold (Redis ``XREVRANGE`` syntax), or None
    when no entry can be that old."""
    until_ms = _ms(query.until) if query.until is not None else None
    if until_ms is not None and until_ms < 0:
        return None
    if query.cursor is not None:
        cursor_ms, cursor_seq = _cursor_parts(query.cursor)
        if (cursor_ms, cursor_seq) == (0, 0):
            return None
        # Whichever is older bounds the page: a cursor (kept from another query, or made up)
        # never lifts ``until``.
        if until_ms is None or cursor_ms <= until_ms:
            return f"({query.cursor}"
    if until_ms is not None:
        return f"{until_ms}-{STREAM_ID_PART_MAX}"
    return "+"


class AuditLog:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def query(self, query: AuditQuery) -> AuditPage:
        wanted = query.wanted()
        high: Any = newest_bound(query)
        if high is None:
            return AuditPage([], None, 0)
        floor = _ms(query.since) if query.since else 0
        records: list[RemediationRecord] = []
        scanned, last_id = 0, None
        while len(records) < query.limit and scanned < SCAN_MAX:
            entries = self.redis.xrevrange(redis_keys.AUDIT, max=high, min="-", count=SCAN_CHUNK)
            if not entries:
                return AuditPage(records, None, scanned)
            for entry_id, fields in entries:
                scanned += 1
                last_id = entry_id.decode()
                if int(last_id.split("-", 1)[0]) < floor:
                    return AuditPage(records, None, scanned)
                if all(fields.get(k) == v for k, v in wanted.items()):
                    records.append(RemediationRecord.model_validate_json(fields[b"data"]))
                    if len(records) == query.limit:
                        return AuditPage(records, last_id, scanned)
            high = f"({last_id}"
        return AuditPage(records, last_id, scanned)


class AdminLog:
    """Who changed what: rules reloads (and refusals), maintenance windows, breaker resets,
    dry-run switches."""

    def __init__(self, client: redis.Redis, maxlen: int = 10_000) -> None:
        self.redis = client
        self.maxlen = maxlen

    def write(self, kind: str, by: str, **detail: str) -> None:
        self.redis.xadd(
            redis_keys.ADMIN_AUDIT, {"kind": kind, "by": by, **detail}, maxlen=self.maxlen
        )
        log.info("admin_change", kind=kind, by=by, **detail)

    def recent(self, count: int = 50) -> list[dict[str, str]]:
        """Newest first, each with ``at``: when it was written (its entry id's time, Redis'
        clock)."""
        return [
            {
                "id": eid.decode(),
                "at": _entry_time(eid.decode()),
                **{k.decode(): v.decode() for k, v in fields.items()},
            }
            for eid, fields in self.redis.xrevrange(redis_keys.ADMIN_AUDIT, count=count)
        ]


def _entry_time(entry_id: str) -> str:
    millis = int(entry_id.partition("-")[0])
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat().replace("+00:00", "Z")
