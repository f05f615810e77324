"""What an action is: typed parameters, a risk tier, the targets it accepts, and either shell
commands for SSM Run Command (``AWS-RunShellScript``) or a call to an AWS API.

An action's module docstring is its operator documentation (``GET /remediation/actions/catalog``
serves it). Actions never check safety themselves: the workflow does, before they run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target, TargetKind

# Validation context while a rules file is loaded: the step's parameters before any template is
# filled (a template is checked against the allow lists once an anomaly fills it).
UNFILLED_PARAMS = "unfilled_params"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")

MAX_CONCURRENCY = r"^([1-9][0-9]{0,3}|[1-9][0-9]?%|100%)$"
MAX_ERRORS = r"^([0-9]{1,4}|[0-9][0-9]?%|100%)$"


_PARSED_MAX = 1024
_PLAIN = (str, int, float, bool, type(None))


def _plain_key(params: Mapping[str, Any]) -> tuple[tuple[str, type, object], ...] | None:
    """``params`` as a key (each value with its type: ``1``, ``1.0`` and ``True`` are equal
    keys otherwise), or None when a value is not a plain one."""
    key = tuple([(name, type(value), value) for name, value in params.items()])
    for _, kind, _ in key:
        if kind not in _PLAIN:
            return None
    return key


class ActionParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def unfilled_template(info: ValidationInfo, index: int | None = None) -> bool:
    """True when this value (item ``index`` of a list) is a rule's template not yet filled: a
    rules file is being loaded, and the value can only be judged once an anomaly fills it."""
    unfilled = (info.context or {}).get(UNFILLED_PARAMS)
    if not isinstance(unfilled, Mapping) or info.field_name is None:
        return False
    raw = unfilled.get(info.field_name)
    if index is not None:
        raw = raw[index] if isinstance(raw, list) and index < len(raw) else None
    return isinstance(raw, str) and _PLACEHOLDER.search(raw) is not None


class ShellParams(ActionParams):
    """Parameters every SSM Run Command action has."""

    timeout_s: int = Field(300, ge=30, le=3600, description="Command timeout on each instance.")
    max_concurrency: str = Field(
        "1", pattern=MAX_CONCURRENCY, description="Instances at a time (number or percent)."
    )
    max_errors: str = Field(
        "0", pattern=MAX_ERRORS, description="Failed instances before SSM stops the command."
    )


# The exit code with which a shell action says that the instance lacks what the action acts on
# (a unit it does not have, say): nothing was tried, so the failure says nothing about the
# fleet's health and does not count toward the circuit breaker. Otherwise anyone able to raise
# an alert could name a unit no instance has and, failure after failure, stop every automatic
# action. 78 is sysexits' EX_CONFIG; catalogue scripts may use it the same way.
NOT_ON_TARGET_EXIT = 78


@dataclass(frozen=True)
class ShellPlan:
    """Commands for ``AWS-RunShellScript`` (or, for catalogue scripts, the local executor)."""

    commands: tuple[str, ...]
    timeout_s: int
    max_concurrency: str = "1"
    max_errors: str = "0"
    catalogue_script: bool = False


@dataclass(frozen=True)
class ApiOutcome:
    """How an AWS API action ended."""

    succeeded: bool
    summary: str
    error_code: str | None = None
    output: str = ""


class AwsCalls(Protocol):
    """The AWS API as actions call it (:class:`..aws.session.AwsApi`, injected when an action
    runs): a client for a service, and one call on it with retries on transient errors."""

    def client(self, service: str) -> AbstractAsyncContextManager[Any]: ...

    async def call(
        self, client: Any, operation: str, *, retry: bool = True, **kwargs: Any
    ) -> dict[str, Any]: ...


ShellBuilder = Callable[[Any], ShellPlan]
ApiCall = Callable[[AwsCalls, Any, Target], Coroutine[Any, Any, ApiOutcome]]
Describer = Callable[[Any, Target], str]


@dataclass(frozen=True)
class ActionDefinition:
    name: str
    doc: str
    params_model: type[ActionParams]
    risk: Risk
    targets: frozenset[TargetKind]
    describe: Describer
    shell: ShellBuilder | None = None
    call_api: ApiCall | None = None
    lock_margin_s: int = 60
    extra: Mapping[str, Any] = field(default_factory=dict)
    risk_of: Callable[[Any], Risk] | None = None
    verifiable: bool = True  # False: it changes nothing a metric shows (no verification)
    # True: acting on a group may act on any of its instances (a scale-in terminates one), so
    # the action holds each instance's lock too (never while another action runs on one).
    holds_group_instances: bool = False
    # Parameters parsed already, by their values (see ``parse``).
    _parsed: dict[tuple[tuple[str, type, object], ...], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if (self.shell is None) == (self.call_api is None):
            raise TypeError(f"{self.name}: give exactly one of shell and call_api")

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else self.name

    def parse(self, params: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> Any:
        """Typed parameters (raises pydantic's ValidationError). The definition's own ``extra``
        (the allow lists it was built with) wins over anything in ``context``.

        Parameters of plain values (text, numbers, booleans, None) parsed without a context are
        parsed once: the same values answer the same (immutable) parameters, as the definition
        and its allow lists do not change. A rule's step is parsed when the rule matches and
        again by the static checks, for every anomaly it matches. What fails is parsed again
        each time (nothing is kept)."""
        key = _plain_key(params) if context is None else None
        if key is not None:
            found = self._parsed.get(key)
            if found is not None:
                return found
        parsed = self.params_model.model_validate(
            dict(params), context={**(context or {}), **self.extra}
        )
        if key is not None:
            if len(self._parsed) >= _PARSED_MAX:
                self._parsed.clear()
            self._parsed[key] = parsed
        return parsed

    def risk_for(self, params: Any) -> Risk:
        return self.risk_of(params) if self.risk_of is not None else self.risk

    def accepts(self, target: Target) -> bool:
        return target.kind in self.targets

    def timeout_s(self, params: Any) -> int:
        if isinstance(params, ShellParams):
            return params.timeout_s
        return 120

    def lock_ttl_s(self, params: Any, floor: int) -> int:
        return max(floor, self.timeout_s(params) + self.lock_margin_s)
