"""What a ChatOps message asks for: one intent and its entities (no I/O).

Every way of understanding a message (the deterministic parser, the optional LLM) produces a
:class:`ChatIntent`, validated strictly: unknown fields, entities an intent does not take and
missing required entities are refused. :meth:`ChatIntent.as_command` writes the intent back as
the words the deterministic parser reads, so any understanding can be shown, and confirmed, as
an exact command.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from services.gateway.chatops.durations import say_duration, say_window
from shared.events import Severity

MIN_LENGTH_S = 60  # the shortest silence, maintenance window or look-back
MAX_WINDOW_S = 30 * 86400
MAX_SILENCE_S = 30 * 86400
MIN_COUNT, MAX_COUNT = 1, 20  # instances to scale by, resources in the noisiest list


class IntentName(StrEnum):
    STATUS = "status"
    RESOURCE_HEALTH = "resource_health"
    RECENT_ANOMALIES = "recent_anomalies"
    ACTION_HISTORY = "action_history"
    RUN_ACTION = "run_action"
    APPROVE = "approve"
    REJECT = "reject"
    SILENCE = "silence"
    HELP = "help"
    PENDING_APPROVALS = "pending_approvals"
    SAFETY_STATE = "safety_state"
    RULES = "rules"
    SUMMARY = "summary"
    NOISIEST = "noisiest"
    EXPLAIN_ANOMALY = "explain_anomaly"
    RESET_BREAKER = "reset_breaker"
    RELOAD_RULES = "reload_rules"
    UNSHADOW_RULE = "unshadow_rule"
    START_MAINTENANCE = "start_maintenance"

    @property
    def changes_something(self) -> bool:
        return self in MUTATING


MUTATING = frozenset(
    {
        IntentName.RUN_ACTION,
        IntentName.APPROVE,
        IntentName.REJECT,
        IntentName.SILENCE,
        IntentName.RESET_BREAKER,
        IntentName.RELOAD_RULES,
        IntentName.UNSHADOW_RULE,
        IntentName.START_MAINTENANCE,
    }
)
# Intents whose resource may be a glob (``web-*``): they match, they do not name one thing.
PATTERNED = frozenset({IntentName.SILENCE, IntentName.START_MAINTENANCE})


class ActionName(StrEnum):
    """The remediator's actions a person may ask for by name."""

    RESTART_SERVICE = "restart_service"
    SCALE_OUT = "scale_out"
    SCALE_IN = "scale_in"
    CLEANUP_DISK = "cleanup_disk"
    ENHANCE_MONITORING = "enhance_monitoring"
    OPTIMIZE_PERFORMANCE = "optimize_performance"


# How "why was web-1 ...?" names each action (the parser reads these back).
ACTION_PAST_TENSE: dict[ActionName, str] = {
    ActionName.RESTART_SERVICE: "restarted",
    ActionName.SCALE_OUT: "scaled out",
    ActionName.SCALE_IN: "scaled in",
    ActionName.CLEANUP_DISK: "cleaned up",
}

_RESOURCE_PATTERN = re.compile(r"[A-Za-z0-9*?][\w.:/@*?\-]*")


def _resource_pattern(value: str) -> str:
    if not _RESOURCE_PATTERN.fullmatch(value):
        raise ValueError(
            "a resource id or glob: an ASCII letter, digit, * or ? first, then letters and "
            "digits of any script, _ . : / @ * ? -"
        )
    return value


# Checked in code, not as a schema pattern: in JSON Schema (ECMA-262) ``\w`` is ASCII only, and
# resource ids may be written in any script (``nœud-9``).
ResourcePattern = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256),
    AfterValidator(_resource_pattern),
]
MetricName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_.:\-]*$")
]
ServiceName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9@._:\-]*$")
]
ScriptName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]
ApprovalRef = Annotated[str, StringConstraints(min_length=2, max_length=32, pattern=r"^[0-9a-f]+$")]
AnomalyRef = Annotated[
    str, StringConstraints(min_length=4, max_length=36, pattern=r"^[0-9a-f][0-9a-f\-]*$")
]
RuleName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class Entities(BaseModel):
    """What an intent is about. Which fields an intent takes: :data:`TAKES`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    resource: ResourcePattern | None = Field(None, description="Resource id, e.g. web-1.")
    metric: MetricName | None = Field(None, description="Metric name, e.g. cpu_utilization.")
    action: ActionName | None = None
    service: ServiceName | None = Field(None, description="systemd unit to restart.")
    script: ScriptName | None = Field(None, description="Catalogue script to run.")
    count: int | None = Field(
        None, ge=MIN_COUNT, le=MAX_COUNT, description="Instances to add or remove."
    )
    approval_id: ApprovalRef | None = Field(None, description="Approval id, or its start.")
    window_s: int | None = Field(
        None, ge=MIN_LENGTH_S, le=MAX_WINDOW_S, description="Look-back window."
    )
    duration_s: int | None = Field(
        None, ge=MIN_LENGTH_S, le=MAX_SILENCE_S, description="Silence length."
    )
    min_severity: Severity | None = Field(None, description="Lowest severity listed.")
    reason: Reason | None = Field(None, description="Why (actions) or a comment (decisions).")
    dry_run: bool = Field(False, description="Record what would run instead of running it.")
    mine: bool = Field(False, description="Only what the asker requested (approvals).")
    rule: RuleName | None = Field(None, description="Remediation rule name, e.g. cpu-critical.")
    anomaly_id: AnomalyRef | None = Field(None, description="Anomaly id, or its start.")


TAKES: dict[IntentName, frozenset[str]] = {
    IntentName.STATUS: frozenset(),
    IntentName.HELP: frozenset(),
    IntentName.RESOURCE_HEALTH: frozenset({"resource"}),
    IntentName.RECENT_ANOMALIES: frozenset({"window_s", "resource", "min_severity"}),
    IntentName.ACTION_HISTORY: frozenset({"resource", "action"}),
    IntentName.RUN_ACTION: frozenset(
        {"action", "resource", "service", "script", "count", "reason", "dry_run"}
    ),
    IntentName.APPROVE: frozenset({"approval_id", "reason"}),
    IntentName.REJECT: frozenset({"approval_id", "reason"}),
    IntentName.SILENCE: frozenset({"resource", "metric", "duration_s"}),
    IntentName.PENDING_APPROVALS: frozenset({"mine"}),
    IntentName.SAFETY_STATE: frozenset(),
    IntentName.RULES: frozenset({"rule"}),
    IntentName.SUMMARY: frozenset({"window_s"}),
    IntentName.NOISIEST: frozenset({"window_s", "count"}),
    IntentName.EXPLAIN_ANOMALY: frozenset({"anomaly_id", "resource", "metric"}),
    IntentName.RESET_BREAKER: frozenset(),
    IntentName.RELOAD_RULES: frozenset(),
    IntentName.UNSHADOW_RULE: frozenset({"rule"}),
    IntentName.START_MAINTENANCE: frozenset({"resource", "duration_s", "reason"}),
}
NEEDS: dict[IntentName, frozenset[str]] = {
    IntentName.RESOURCE_HEALTH: frozenset({"resource"}),
    IntentName.RECENT_ANOMALIES: frozenset({"window_s"}),
    IntentName.ACTION_HISTORY: frozenset({"resource"}),
    IntentName.RUN_ACTION: frozenset({"action", "resource"}),
    IntentName.APPROVE: frozenset({"approval_id"}),
    IntentName.REJECT: frozenset({"approval_id"}),
    IntentName.SILENCE: frozenset({"resource", "duration_s"}),
    IntentName.SUMMARY: frozenset({"window_s"}),
    IntentName.NOISIEST: frozenset({"window_s"}),
    IntentName.UNSHADOW_RULE: frozenset({"rule"}),
    IntentName.START_MAINTENANCE: frozenset({"resource", "duration_s"}),
}
ACTION_NEEDS: dict[ActionName, frozenset[str]] = {
    ActionName.RESTART_SERVICE: frozenset({"service"}),
    ActionName.OPTIMIZE_PERFORMANCE: frozenset({"script"}),
}
ACTION_TAKES: dict[ActionName, frozenset[str]] = {
    ActionName.RESTART_SERVICE: frozenset({"service"}),
    ActionName.OPTIMIZE_PERFORMANCE: frozenset({"script"}),
    ActionName.SCALE_OUT: frozenset({"count"}),
    ActionName.SCALE_IN: frozenset({"count"}),
}
_PER_ACTION = frozenset({"service", "script", "count"})


class ChatIntent(BaseModel):
    """The parsers' common output: what is asked, about what."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    intent: IntentName
    entities: Entities = Field(default_factory=Entities)

    @model_validator(mode="after")
    def _entities_fit_the_intent(self) -> ChatIntent:
        given = {
            name
            for name, value in self.entities
            if value is not None and not (name in ("dry_run", "mine") and value is False)
        }
        extra = given - TAKES[self.intent]
        if extra:
            raise ValueError(f"{self.intent} does not take {', '.join(sorted(extra))}")
        missing = NEEDS.get(self.intent, frozenset()) - given
        action = self.entities.action
        if self.intent is IntentName.RUN_ACTION and action is not None:
            missing |= ACTION_NEEDS.get(action, frozenset()) - given
            wrong = (given & _PER_ACTION) - ACTION_TAKES.get(action, frozenset())
            if wrong:
                raise ValueError(f"{action} does not take {', '.join(sorted(wrong))}")
        if missing:
            raise ValueError(f"{self.intent} needs {', '.join(sorted(missing))}")
        resource = self.entities.resource or ""
        if self.intent not in PATTERNED and ("*" in resource or "?" in resource):
            raise ValueError("only silences and maintenance windows take resource patterns")
        if (
            self.intent is IntentName.EXPLAIN_ANOMALY
            and self.entities.anomaly_id is None
            and self.entities.resource is None
        ):
            raise ValueError("explain_anomaly needs anomaly_id or resource")
        return self

    @classmethod
    def of(cls, intent: IntentName, **entities: object) -> ChatIntent:
        return cls(intent=intent, entities=Entities.model_validate(entities, strict=False))

    def as_command(self) -> str:
        """The words the deterministic parser reads as this same intent."""
        e = self.entities
        match self.intent:
            case IntentName.RESOURCE_HEALTH:
                return f"what's wrong with {e.resource}"
            case IntentName.RECENT_ANOMALIES:
                words = [e.min_severity.value] if e.min_severity else []
                words.append("anomalies")
                if e.resource:
                    words.append(f"on {e.resource}")
                words.append(f"in the last {say_window(e.window_s or 3600)}")
                return " ".join(words)
            case IntentName.ACTION_HISTORY:
                if e.action in ACTION_PAST_TENSE:
                    return f"why was {e.resource} {ACTION_PAST_TENSE[e.action]}"
                if e.action is not None:
                    return f"history of {e.action} on {e.resource}"
                return f"what happened to {e.resource}"
            case IntentName.RUN_ACTION:
                return _action_command(e)
            case IntentName.APPROVE | IntentName.REJECT:
                comment = f" because {e.reason}" if e.reason else ""
                return f"{self.intent} {e.approval_id}{comment}"
            case IntentName.SILENCE:
                what = f"{e.metric} on {e.resource}" if e.metric else f"{e.resource}"
                return f"silence {what} for {say_duration(e.duration_s or 3600)}"
            case _:
                return _more_command(self.intent, e)


def _more_command(intent: IntentName, e: Entities) -> str:
    match intent:
        case IntentName.PENDING_APPROVALS:
            return "my pending approvals" if e.mine else "pending approvals"
        case IntentName.SAFETY_STATE:
            return "safety state"
        case IntentName.RULES:
            return f"rule {e.rule}" if e.rule else "rules"
        case IntentName.SUMMARY:
            return f"summary of the last {say_window(e.window_s or 86400)}"
        case IntentName.NOISIEST:
            top = f"top {e.count} " if e.count else ""
            return f"{top}noisiest in the last {say_window(e.window_s or 86400)}"
        case IntentName.EXPLAIN_ANOMALY:
            if e.anomaly_id:
                return f"explain anomaly {e.anomaly_id}"
            if e.metric:
                return f"explain {e.metric} on {e.resource}"
            return f"explain the latest anomaly on {e.resource}"
        case IntentName.RESET_BREAKER:
            return "reset the breaker"
        case IntentName.RELOAD_RULES:
            return "reload rules"
        case IntentName.UNSHADOW_RULE:
            return f"unshadow rule {e.rule}"
        case IntentName.START_MAINTENANCE:
            words = f"maintenance on {e.resource} for {say_duration(e.duration_s or 3600)}"
            return words + (f" because {e.reason}" if e.reason else "")
        case _:
            return intent.value


def _action_command(e: Entities) -> str:
    match e.action:
        case ActionName.RESTART_SERVICE:
            words = f"restart {e.service} on {e.resource}"
        case ActionName.SCALE_OUT | ActionName.SCALE_IN:
            direction = "out" if e.action is ActionName.SCALE_OUT else "in"
            words = f"scale {direction} {e.resource} by {e.count or 1}"
        case ActionName.CLEANUP_DISK:
            words = f"clean up disk on {e.resource}"
        case ActionName.ENHANCE_MONITORING:
            words = f"enable detailed monitoring on {e.resource}"
        case _:
            words = f"run {e.script} on {e.resource}"
    if e.dry_run:
        words += " in dry run"
    if e.reason:
        words += f" because {e.reason}"
    return words
