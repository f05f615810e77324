"""How long an action may take before its run is given up as timed out (and how long its lock
must last).

SSM runs a command on at most ``MaxConcurrency`` instances at a time (a number, or a percentage
of the targets): with ``max_concurrency: "1"`` and 4 instances the command runs in 4 waves, one
after the other, each up to the command timeout. The run's deadline and the lock on its target
must cover every wave, or a slow but healthy multi-instance run is recorded as failed while it
still runs and another action may start on the same instances.
"""

from __future__ import annotations

import math

from services.remediator.core.actions.base import ActionDefinition

MARGIN_S = 60  # delivery, polling and clock differences on top of the command's own time


def instances_at_once(max_concurrency: str, instances: int) -> int:
    """How many instances SSM runs the command on at a time (at least one)."""
    value = max_concurrency.strip()
    if value.endswith("%"):
        share = float(value[:-1]) / 100
        return max(1, math.floor(instances * share + 1e-9))
    return max(1, int(value))


def waves(max_concurrency: str, instances: int) -> int:
    """How many rounds SSM needs to reach every instance."""
    if instances <= 1:
        return 1
    return math.ceil(instances / instances_at_once(max_concurrency, instances))


def run_time_s(definition: ActionDefinition, params: object, instances: int) -> int:
    """The longest the action can take on ``instances`` targets, before the margin."""
    timeout = definition.timeout_s(params)
    if definition.shell is None:
        return timeout
    plan = definition.shell(params)
    return plan.timeout_s * waves(plan.max_concurrency, instances)


def deadline_s(definition: ActionDefinition, params: object, instances: int) -> int:
    """Seconds after the start when the run counts as timed out."""
    return run_time_s(definition, params, instances) + MARGIN_S


def lock_ttl_s(definition: ActionDefinition, params: object, instances: int, floor: int) -> int:
    """The target's lock must outlive the run: every wave, plus the action's margin."""
    return max(floor, run_time_s(definition, params, instances) + definition.lock_margin_s)
