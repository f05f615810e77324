"""One reading of a message: an intent (from the classifier or the LLM) with the entities
found in the words, as a validated :class:`ChatIntent` (no I/O).

Entities the intent does not take are left out; defaults fill what people leave implicit (a
look-back of an hour for anomalies, a day for summaries, an hour for silences). What is still
missing is said, so the answer can ask for exactly that; a value said outside its range is
refused with the range, never replaced by a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from services.gateway.chatops.extraction import Found
from services.gateway.chatops.intents import (
    ACTION_TAKES,
    TAKES,
    ActionName,
    ChatIntent,
    IntentName,
)
from services.gateway.chatops.limits import out_of_range

DEFAULTS: dict[IntentName, dict[str, int]] = {
    IntentName.RECENT_ANOMALIES: {"window_s": 3600},
    IntentName.SUMMARY: {"window_s": 86400},
    IntentName.NOISIEST: {"window_s": 86400},
    IntentName.SILENCE: {"duration_s": 3600},
    IntentName.START_MAINTENANCE: {"duration_s": 3600},
}
ASK_FOR = {
    "resource": "which resource (e.g. web-1)",
    "service": "which service to restart (e.g. nginx)",
    "script": "which script to run (e.g. drop-page-cache)",
    "approval_id": "which approval (its id or first characters, see `pending approvals`)",
    "rule": "which rule (see `rules`)",
    "action": "which action (restart, scale out or in, clean up disk, monitoring, a script)",
    "anomaly_id": "which anomaly (its id, or a resource)",
}


@dataclass(frozen=True)
class Reading:
    intent: IntentName
    chat: ChatIntent | None  # None: something it needs is missing
    missing: tuple[str, ...] = ()
    corrected: dict[str, str] = field(default_factory=dict)  # said -> known
    refusal: str | None = None  # a value said out of its range, and the range
    defaulted: tuple[str, ...] = ()  # entities no value was read for: the default is used


def _values(intent: IntentName, found: Found) -> dict[str, object]:
    values: dict[str, object] = {
        "resource": found.resource,
        "metric": found.metric,
        "action": found.action,
        "service": found.service,
        "script": found.script,
        "count": found.count,
        "window_s": _first(found.window_s, found.duration_s if intent in DEFAULTS else None),
        "duration_s": _first(found.duration_s, found.window_s),
        "min_severity": found.min_severity,
        "reason": found.reason,
        "dry_run": found.dry_run,
        "mine": found.mine,
        "rule": found.rule,
        "approval_id": found.hex_id if found.hex_id and len(found.hex_id) <= 32 else None,
        "anomaly_id": found.hex_id,
    }
    if intent is IntentName.RUN_ACTION and found.action is not None:
        per_action = ACTION_TAKES.get(found.action, frozenset())
        for name in ("service", "script", "count"):
            if name not in per_action:
                values[name] = None
    if intent is IntentName.EXPLAIN_ANOMALY and found.hex_id:
        values["resource"] = values["metric"] = None
    if intent is IntentName.ACTION_HISTORY and found.action is ActionName.OPTIMIZE_PERFORMANCE:
        values["action"] = None
    return values


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def read(intent: IntentName, found: Found) -> Reading:
    values = _values(intent, found)
    taken = {
        k: v
        for k, v in values.items()
        if k in TAKES[intent] and v is not None and v is not False  # 0 is said: kept
    }
    defaulted = tuple(name for name in DEFAULTS.get(intent, {}) if name not in taken)
    for name, default in DEFAULTS.get(intent, {}).items():
        taken.setdefault(name, default)
    corrected = {
        said: known
        for said, known in found.corrected.items()
        if known in {str(v) for v in taken.values()}
    }
    try:
        chat = ChatIntent.of(intent, **taken)
        return Reading(intent, chat, corrected=corrected, defaulted=defaulted)
    except ValidationError as exc:
        refusal = out_of_range(intent, exc)
        if refusal is not None:
            return Reading(intent, None, corrected=corrected, refusal=refusal)
        missing = tuple(_missing(exc))
        return Reading(intent, None, missing or ("something",), corrected)


def _missing(exc: ValidationError) -> list[str]:
    names: list[str] = []
    for error in exc.errors():
        message = str(error.get("msg", ""))
        if " needs " in message:
            names += [n.strip() for n in message.split(" needs ", 1)[1].split(",")]
        elif "anomaly_id or resource" in message:
            names.append("anomaly_id")
    return names


def ask_for(missing: tuple[str, ...]) -> str:
    return " and ".join(ASK_FOR.get(name, name.replace("_", " ")) for name in missing)
