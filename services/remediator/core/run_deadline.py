"""How long an action may take before its run is given up as timed out (and how long its lock
must last).

SSM runs a command on at most ``MaxConcurrency`` instances at a time (a number, or a percentage
of the targets): with ``max_concurrency: "1"`` and 4 instances the command runs in 4 waves, one
after the other, each up to the command timeout. The run's deadline and the lock on its target
must cover every wave, or a slow but healthy multi-instance run is recorded as failed while it
still runs and another action may start on the same instances.

SSM also waits to deliver a command: an instance whose agent is not connected yet (busy, just
booted, reconnecting) gets it as long as the command's delivery timeout (``TimeoutSeconds``,
:func:`delivery_timeout_s`) has not passed, and the script then runs for up to its own
timeout. The deadline and the lock cover that wait too, so a run is never given up (and its
target's lock freed) while SSM may still start or run its script.
"""

from __future__ import annotations

import math

from services.remediator.core.actions.base import ActionDefinition

MARGIN_S = 60  # polling and clock differences on top of the command's own time
MIN_DELIVERY_TIMEOUT_S = 30  # the least TimeoutSeconds SSM accepts


def delivery_timeout_s(timeout_s: int) -> int:
    """How long SSM may wait to start a command whose script has ``timeout_s`` to run
    (``TimeoutSeconds`` of SendCommand: after it, a command not started never runs)."""
    return max(timeout_s, MIN_DELIVERY_TIMEOUT_S)


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


def start_timeout_s(timeout_s: int, max_concurrency: str, instances: int) -> int:
    """``TimeoutSeconds`` of SendCommand for a script of ``timeout_s`` on ``instances``: SSM
    starts nothing after it, and each wave waits for the one before, so it covers the
    delivery wait and every wave but the last (else SSM cancels the last waves of a slow
    healthy run, and the action is done on some instances only). ``instances`` unknown
    (a tag selector, counted 1): the delivery wait alone, and late waves may be cancelled,
    never run after the run's deadline and lock."""
    return delivery_timeout_s(timeout_s) + timeout_s * (waves(max_concurrency, instances) - 1)


def run_time_s(definition: ActionDefinition, params: object, instances: int) -> int:
    """The longest the action can take on ``instances`` targets, before the margin: for a
    command, the longest SSM may wait to deliver it, then every wave (the last wave may start
    until ``start_timeout_s`` and then runs for its timeout)."""
    timeout = definition.timeout_s(params)
    if definition.shell is None:
        return timeout
    plan = definition.shell(params)
    return start_timeout_s(plan.timeout_s, plan.max_concurrency, instances) + plan.timeout_s


def deadline_s(definition: ActionDefinition, params: object, instances: int) -> int:
    """Seconds after the start when the run counts as timed out."""
    return run_time_s(definition, params, instances) + MARGIN_S


def lock_ttl_s(definition: ActionDefinition, params: object, instances: int, floor: int) -> int:
    """The target's lock must outlive the run: every wave, plus the action's margin."""
    return max(floor, run_time_s(definition, params, instances) + definition.lock_margin_s)
