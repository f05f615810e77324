"""Every Redis key of the remediator.

State that a Lua script touches in one step (safety counters, locks, claims, runs, debounce,
approvals) shares the ``{remediation}`` hash tag, so it lives in one Redis Cluster slot and the
scripts stay atomic there. The audit log is a stream of its own slot.
"""

from __future__ import annotations

import uuid

from shared.streams import PREFIX

TAG = f"{PREFIX}:{{remediation}}"

# Safety
SAFETY = f"{TAG}:safety"  # prefix of every key below, cooldowns and locks included
EXECUTED = f"{TAG}:safety:executed"  # zset: reservation id -> start (ms), the rolling hour
FAILURES = f"{TAG}:safety:failures"  # zset: reservation id -> failure time (ms)
BREAKER = f"{TAG}:safety:breaker"  # hash: opened_at_ms, reason (exists = open)
MAINTENANCE = f"{TAG}:safety:maintenance"  # hash: window id -> JSON
DRY_RUN = f"{TAG}:safety:dry_run"  # "1" / "0": overrides SCOPS_DRY_RUN while set

# Approvals
PENDING_APPROVALS = f"{TAG}:approvals:pending"  # zset: approval id -> expiry (ms)
APPROVED_UNCLAIMED = f"{TAG}:approvals:approved"  # zset: approval id -> approval time (ms)
# zset: "<approval id>|<what>|<token>" -> when noted (ms): a decision about to be taken whose
# record is not written yet (kept when the process dies in between; the sweep writes it)
APPROVAL_RECORDS_OWED = f"{TAG}:approvals:owed"

# Anomalies sent to the workers whose decision is not recorded yet (:mod:`.dispatched`)
DISPATCHED = f"{TAG}:dispatched"  # zset: anomaly id -> when its task was last sent (ms)
DISPATCHED_EVENTS = f"{TAG}:dispatched:events"  # hash: anomaly id -> the event (JSON)

# Runs (actions started and not yet finished)
ACTIVE_RUNS = f"{TAG}:runs:active"  # zset: run id -> next poll due (ms)
# zset: run id -> when it was entered (ms), from just before its reservation until it is sent
# or finished; the sweep settles the ones whose attempt died
RESERVED_RUNS = f"{TAG}:runs:reserved"

# Rules published by the API for every worker
RULES_ACTIVE = f"{TAG}:rules:active"  # hash: version, source, text, loaded_at
AUTO_SHADOW = f"{TAG}:rules:auto_shadow"  # hash: rule -> JSON (since_ms, run, count)

# Post-action verification
VERIFYING = f"{TAG}:verify:due"  # zset: run id -> when its verification decides (ms)

AUDIT = f"{PREFIX}:{{remediation-audit}}"  # stream of every record
ADMIN_AUDIT = f"{PREFIX}:{{remediation-audit}}:admin"  # stream of admin changes


def cooldown(target: str) -> str:
    return f"{TAG}:safety:cooldown:{target}"


def lock(target: str) -> str:
    return f"{TAG}:safety:lock:{target}"


def blast(action: str) -> str:
    return f"{TAG}:safety:blast:{action}"


def blast_group(action: str, group: str) -> str:
    return f"{TAG}:safety:blast:{action}:asg:{group}"


def claim(subject: uuid.UUID, action: str | None) -> str:
    return f"{TAG}:claim:{subject}:{action or '-'}"


def lease(claim_key: str) -> str:
    return f"{claim_key}:lease"


def run(run_id: str) -> str:
    return f"{TAG}:run:{run_id}"


def debounce(resource_id: str, metric: str) -> str:
    return f"{TAG}:debounce:{resource_id}:{metric}"


def recent(resource_id: str) -> str:
    return f"{TAG}:recent:{resource_id}"


def approval(approval_id: str) -> str:
    return f"{TAG}:approval:{approval_id}"


def not_improved(rule: str) -> str:
    return f"{TAG}:rules:not_improved:{rule}"  # zset: run id -> when (ms)


def verification(run_id: str) -> str:
    return f"{TAG}:verify:run:{run_id}"


def watched(resource_id: str, metric: str) -> str:
    return f"{TAG}:verify:series:{resource_id}:{metric}"  # set of run ids


def resolved(resource_id: str, metric: str) -> str:
    return f"{TAG}:verify:resolved:{resource_id}:{metric}"  # the detector's last resolution (ms)


def escalation(name: str) -> str:
    return f"{TAG}:escalation:{name}"


def resolution_handled(event_id: uuid.UUID) -> str:
    """Set once the API's dispatcher has handled this resolution (a replay is not news)."""
    return f"{TAG}:resolution:handled:{event_id}"


def decision_seen(anomaly_id: uuid.UUID) -> str:
    """Set by the first record about an anomaly the API counts (its decision latency)."""
    return f"{TAG}:metrics:decided:{anomaly_id}"


def record_counted(record_id: uuid.UUID) -> str:
    """Set when the API counts a record: one written again (or delivered again) is not."""
    return f"{TAG}:metrics:counted:{record_id}"


def audit_written(record_id: uuid.UUID) -> str:
    """Set when a record enters the audit log, in the log's slot: one written again is not."""
    return f"{AUDIT}:written:{record_id}"
