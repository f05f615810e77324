"""A ``run_action`` intent as the remediator's manual request (``POST /remediation/execute``),
no I/O. The remediator resolves, checks and records it; nothing is decided here."""

from __future__ import annotations

import re
from typing import Any

from services.gateway.chatops.intents import ActionName, Entities

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}(?:[0-9a-f]{9})?\Z")
GROUP_ACTIONS = frozenset({ActionName.SCALE_OUT, ActionName.SCALE_IN})


def target_of(action: ActionName, resource: str) -> dict[str, Any]:
    """Scaling acts on the Auto Scaling group named; the rest on the instance id given, or on
    the instances tagged ``Name=<resource>`` (as the remediator's rules do)."""
    if action in GROUP_ACTIONS:
        return {"auto_scaling_group": resource}
    if INSTANCE_ID.match(resource):
        return {"instance_ids": [resource]}
    return {"tags": {"Name": resource}}


def params_of(entities: Entities) -> dict[str, Any]:
    match entities.action:
        case ActionName.RESTART_SERVICE:
            return {"service": entities.service}
        case ActionName.OPTIMIZE_PERFORMANCE:
            return {"script": entities.script}
        case ActionName.SCALE_OUT | ActionName.SCALE_IN:
            return {"by": entities.count or 1}
        case _:
            return {}


def manual_request(entities: Entities, by: str, asked: str) -> dict[str, Any]:
    """The body of ``POST /remediation/execute``; ``asked`` is the message, kept as the reason
    when none was given."""
    assert entities.action is not None and entities.resource is not None
    reason = entities.reason or f"asked in ChatOps: {asked}"
    return {
        "action": entities.action.value,
        "target": target_of(entities.action, entities.resource),
        "params": params_of(entities),
        "reason": reason[:500],
        "by": by[:128],
        "resource_id": entities.resource,
        "dry_run": entities.dry_run,
    }
