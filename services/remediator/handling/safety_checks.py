"""The checks a request passes before it runs, in order: the static ones (the action is known,
its parameters valid, it acts on this kind of target, the allow and deny lists), the share of
an Auto Scaling group it would touch (AWS is asked the group's size), then the atomic Redis
step (:mod:`..stores.safety`: breaker, maintenance, lock, cooldown, blast radius, rate limit,
dry-run). The decision peeks them (:meth:`SafetyChecks.precheck`, changing nothing); the runner
takes the same checks with the reservation, atomically, before it acts."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from services.remediator.aws.group_share import (
    GroupShare,
    GroupShareRefusal,
    GroupSizes,
    group_share,
)
from services.remediator.core.accounts import HOME
from services.remediator.core.action_requests import ActionRequest
from services.remediator.core.actions.base import ActionDefinition
from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.safety_policy import Refusal, static_refusal
from services.remediator.errors import UnknownActionError
from services.remediator.executors.base import Job
from services.remediator.stores.safety import SafetyManager, SafetyRequest, SafetyVerdict


@dataclass(frozen=True)
class Prepared:
    """A request past the static checks and the group's share: its job and what the atomic
    step checks."""

    job: Job
    checks: SafetyRequest


@dataclass(frozen=True)
class Precheck:
    """What would happen to a request now, changing nothing: the check that would refuse it
    (None: allowed), and the detail."""

    refusal: Refusal | None
    detail: str
    dry_run: bool | None = None  # what the atomic step said of dry-run (None: not reached)


class SafetyChecks:
    def __init__(
        self, *, registry: ActionRegistry, safety: SafetyManager, group_sizes: GroupSizes
    ) -> None:
        self.registry = registry
        self.safety = safety
        self.group_sizes = group_sizes

    def prepare(self, request: ActionRequest) -> Prepared | Refusal:
        """The static checks and the group's share; the atomic step is the caller's."""
        job = self.static(request)
        if isinstance(job, Refusal):
            return job
        share = group_share(request, self.group_sizes)
        if isinstance(share, GroupShareRefusal):
            return Refusal("blast_radius", share.detail)
        return Prepared(job, self.request_for(request, job.definition, job.params, share))

    def precheck(self, request: ActionRequest) -> Precheck:
        """What would happen now, changing nothing."""
        prepared = self.prepare(request)
        if isinstance(prepared, Refusal):
            return Precheck(prepared, prepared.detail)
        return outcome(self.safety.peek(prepared.checks))

    def static(self, request: ActionRequest) -> Job | Refusal:
        """The checks that need no shared state: they cannot race."""
        definition = self.registry.get(request.action)
        if definition is None:
            error = UnknownActionError(request.action, list(self.registry))
            return Refusal("unknown_action", str(error))
        try:
            params = definition.parse(request.params)
        except ValidationError as exc:
            return Refusal("invalid_params", _first_error(exc))
        if not definition.accepts(request.target):
            detail = f"{request.action} cannot act on {request.target.describe()}"
            return Refusal("no_target", detail)
        refusal = static_refusal(
            self.safety.limits, request.action, request.names, request.denied_targets
        )
        if refusal is not None:
            return refusal
        return Job(definition, params, request.target, request.run_id, request.place)

    def request_for(
        self,
        request: ActionRequest,
        definition: ActionDefinition,
        params: object,
        share: GroupShare | None = None,
    ) -> SafetyRequest:
        """What the atomic Redis step checks (and reserves) for this request."""
        return SafetyRequest(
            action=request.action,
            target_key=request.target.key,
            resource_id=request.incident.resource_id,
            run_id=request.run_id,
            cooldown_s=request.cooldown_s,
            blast_max=request.blast_max,
            blast_window_s=request.blast_window_s,
            lock_ttl_s=definition.lock_ttl_s(params, int(self.safety.limits.lock_ttl_s)),
            automatic=request.automatic,
            group=share.group if share else None,
            group_size=share.size if share else 0,
            group_percent=share.percent if share else 0.0,
            group_max=share.max_instances if share else 0,
            group_members=share.members if share else (),
            members=request.target.members,
            also_locked=request.target_instances if definition.holds_group_instances else (),
            names=request.names,
            counted=counted_members(request),
        )


def counted_members(request: ActionRequest) -> tuple[str, ...]:
    """What the blast radius counts for ``request``: its members, a group named with the AWS
    account and region it is in when that is not the remediator's own (two accounts may each
    have a group called web: two targets). Instance ids are unique across accounts."""
    target = request.target
    if target.kind != "auto_scaling_group" or request.place == HOME:
        return target.members
    where = f"{request.aws_account or '-'}/{request.aws_region or '-'}"
    return tuple(f"{member}@{where}" for member in target.members)


def outcome(verdict: SafetyVerdict) -> Precheck:
    """The precheck a peek of the atomic step answers."""
    if not verdict.allowed:
        refusal = Refusal(verdict.blocked_by or "safety", verdict.detail)
        return Precheck(refusal, verdict.detail)
    return Precheck(None, "dry run" if verdict.dry_run else verdict.detail, verdict.dry_run)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "params"
    return f"parameter {where}: {first['msg']}"
