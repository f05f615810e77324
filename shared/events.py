"""Versioned, immutable event models: the contracts between services.

Every event carries ``type`` (name and major version, e.g. ``anomaly.detected.v1``),
``schema_version`` (``MAJOR.MINOR``), ``event_id``, ``correlation_id`` and ``occurred_at``.
Readers ignore unknown fields, so a minor version may add fields; a breaking change is a new
major version, which consumers learn to read before producers start writing it.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

SCHEMA_VERSION = "1.0"
# Ids of what the detector publishes are derived from what was observed (the series and the
# sample that opened the episode), never drawn at random: replaying samples (a redelivery, or a
# detector restarted from an older checkpoint) yields the same ids, and every downstream
# idempotency key (anomaly x action, notification) holds.
ANOMALY_NAMESPACE = uuid.UUID("6f1c1d52-8a4e-4f5e-9a53-3c1f0b7c2d10")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def aware_utc(value: datetime) -> datetime:
    """``value`` in UTC (a time without a zone is UTC); ValueError when that leaves the
    calendar (``9999-12-31T23:00:00-14:00``)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-14:00: past year 9999 in UTC
        raise ValueError("out of range once converted to UTC") from None


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number (NaN and infinity are refused)")
    return value


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    """A date and time is ISO 8601, as documented (``format: date-time``): a number would be
    read as seconds since the epoch, which the documentation does not say, and ``until=0.5``
    would mean 1970 without a word."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a date and time in ISO 8601 (2026-01-01T00:00:00Z), not a number")
    if isinstance(value, str | bytes) and _NUMBER.fullmatch(
        value.decode("latin-1") if isinstance(value, bytes) else value
    ):
        raise ValueError("a date and time in ISO 8601 (2026-01-01T00:00:00Z), not a number")
    return value


# A time in an API or an event: ISO 8601 only (``Timestamp``, for samples, also takes epoch
# seconds and says so).
UtcDatetime = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(aware_utc)]
# How a time that may also be given in seconds since the epoch is documented (its JSON
# schema): a number is accepted, so the document says so.
ISO_OR_EPOCH_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "number", "minimum": -62135596800, "maximum": 253402300799},
    ],
    "description": "ISO 8601 (UTC if no zone) or seconds since the epoch (never milliseconds).",
}
# A sample's time: ISO 8601 or seconds since the epoch, as the ingest API documents.
SampleDatetime = Annotated[datetime, AfterValidator(aware_utc), WithJsonSchema(ISO_OR_EPOCH_SCHEMA)]
FiniteFloat = Annotated[float, AfterValidator(_finite)]
ResourceId = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\s\x00-\x1f]+$")
]
MetricName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_.:\-]*$")
]
Labels = Annotated[
    dict[Annotated[str, StringConstraints(max_length=128)], str], Field(max_length=32)
]


class Severity(StrEnum):
    NORMAL = "normal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


SLACK_CLICK_MAX = 1_000_000  # characters of a click's payload (Slack's are a few kB)


class Event(BaseModel):
    """Fields every event has."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    schema_version: str = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    correlation_id: str = Field(default_factory=new_correlation_id, max_length=128)
    occurred_at: UtcDatetime = Field(default_factory=utcnow)


class MetricSample(BaseModel):
    """One observation of one metric of one resource."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource_id: ResourceId = Field(examples=["i-0abc123def4567890"])
    metric: MetricName = Field(examples=["cpu_utilization"])
    value: FiniteFloat = Field(examples=[42.5])
    timestamp: SampleDatetime = Field(
        description="When it was observed: ISO 8601 or seconds since the epoch; UTC if no zone.",
        examples=["2026-11-26T18:00:00Z"],
    )
    labels: Labels = Field(default_factory=dict, examples=[{"service": "nginx", "env": "prod"}])


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MetricColumns(BaseModel):
    """A batch's samples column by column (schema 1.1): one list per field, all of one length,
    the n-th entry of each describing the n-th sample. Compact on the stream, and read without
    an object per sample (``shared.metric_batches``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    resource_id: list[ResourceId]
    metric: list[MetricName]
    value: list[FiniteFloat]
    timestamp_us: list[int] = Field(description="Microseconds since the epoch (UTC).")
    labels: list[Labels] | None = Field(None, description="Absent when no sample has labels.")

    @model_validator(mode="after")
    def _same_length(self) -> MetricColumns:
        lengths = {len(self.resource_id), len(self.metric), len(self.value)}
        lengths.add(len(self.timestamp_us))
        if self.labels is not None:
            lengths.add(len(self.labels))
        if len(lengths) != 1:
            raise ValueError("every column must have one entry per sample")
        return self


#: How much of a person's identity the services keep and compare (a key's owner is free text).
PERSON_MAX = 256

#: The person whose API key sent data (``person:<owner>``, as approvals count people): never
#: one of the approvers of an action that data asks for. None for data the services fetched.
SentBy = Annotated[
    str | None,
    Field(
        max_length=PERSON_MAX,
        description="The person whose API key sent this data (`person:<key owner>`): never "
        "an approver of an action it asks for. Absent for data fetched by the services.",
    ),
]


class MetricBatch(Event):
    """Samples of one metric shard. Schema 1.0 lists them as ``samples`` (one object each);
    1.1 carries them as ``columns``, read back here into ``samples`` so that readers of 1.0
    keep working unchanged (a 1.1 entry needs a reader of this version or later)."""

    TYPE: ClassVar[str] = "metrics.batch.v1"
    type: Literal["metrics.batch.v1"] = "metrics.batch.v1"
    schema_version: str = "1.1"
    samples: list[MetricSample] = Field(
        default_factory=list, description="Schema 1.0; in 1.1 filled from ``columns`` on reading."
    )
    columns: MetricColumns | None = Field(None, description="Schema 1.1: the samples by column.")
    sent_by: SentBy = None

    @model_validator(mode="before")
    @classmethod
    def _samples_from_columns(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("samples") or not data.get("columns"):
            return data
        columns = MetricColumns.model_validate(data["columns"])
        labels = columns.labels or [{}] * len(columns.resource_id)
        samples = [
            {
                "resource_id": r,
                "metric": m,
                "value": v,
                "timestamp": EPOCH + timedelta(microseconds=t),
                "labels": lab,
            }
            for r, m, v, t, lab in zip(
                columns.resource_id,
                columns.metric,
                columns.value,
                columns.timestamp_us,
                labels,
                strict=True,
            )
        ]
        return {**data, "samples": samples, "columns": columns}

    @model_validator(mode="after")
    def _not_empty(self) -> MetricBatch:
        if not self.samples:
            raise ValueError("a metric batch holds at least one sample")
        return self


class AnomalyEvent(Event):
    TYPE: ClassVar[str] = "anomaly.detected.v1"
    type: Literal["anomaly.detected.v1"] = "anomaly.detected.v1"
    resource_id: ResourceId
    metric: MetricName
    value: float
    observed_at: UtcDatetime
    score: float = Field(ge=0.0, le=1.0)
    severity: Severity
    expected_low: float
    expected_high: float
    detectors: list[str] = Field(default_factory=list)
    contributing_metrics: list[str] = Field(default_factory=list)
    model_version: str
    explanation: str
    labels: dict[str, str] = Field(default_factory=dict)
    episode_started_at: UtcDatetime | None = Field(
        None, description="When this anomaly episode began (escalations repeat it)."
    )
    lasted_s: float = Field(0.0, ge=0, description="How long the episode has lasted so far.")
    # Optional, so events without it (which all gave their value) still read: an alert posted
    # to the gateway without a `value` annotation has no value; `value` is then 0 and means
    # nothing, and every reader shows "no value given" instead of a number.
    value_given: bool = Field(
        True,
        description="False: an alert posted without a value (its `value` is 0 and means "
        "nothing; show it as no value).",
    )
    # The sender of the alert, or of the sample that raised (or escalated) the anomaly.
    sent_by: SentBy = None

    @staticmethod
    def derive_id(resource_id: str, metric: str, observed_at: datetime) -> uuid.UUID:
        """The id of the anomaly (and of its episode) opened by this series at this sample."""
        key = f"{resource_id}\x1f{metric}\x1f{aware_utc(observed_at).isoformat()}"
        return uuid.uuid5(ANOMALY_NAMESPACE, key)

    @staticmethod
    def derive_escalation_id(episode_id: uuid.UUID, severity: Severity) -> uuid.UUID:
        """The id of the event that raises episode ``episode_id`` to ``severity``: at most one
        per level, the same whichever sample a replay escalates it on."""
        return uuid.uuid5(ANOMALY_NAMESPACE, f"{episode_id}\x1fescalated\x1f{severity.value}")


DETECTOR = "detector"  # a resolution the detector derived from the metric series
ALERTMANAGER = "alertmanager"  # an alert posted to the gateway: its source's word
# why an episode ended: normal samples again, or none at all
RECOVERED: Final = "recovered"
NO_DATA: Final = "no_data"


class AnomalyResolved(Event):
    """An anomaly episode is over: the series has been back to normal for a while."""

    TYPE: ClassVar[str] = "anomaly.resolved.v1"
    type: Literal["anomaly.resolved.v1"] = "anomaly.resolved.v1"
    anomaly_id: uuid.UUID = Field(description="The event that opened the episode.")
    resource_id: ResourceId
    metric: MetricName
    started_at: UtcDatetime
    resolved_at: UtcDatetime
    duration_s: float = Field(ge=0)
    peak_severity: Severity
    last_value: float
    labels: dict[str, str] = Field(default_factory=dict)
    # Added in 1.1: who derived the resolution. Only the detector's (it saw the series back to
    # normal) is evidence about a metric; the gateway's Alertmanager receiver always writes
    # "alertmanager", whatever the alert carries. Events without it are the detector's.
    schema_version: str = "1.2"
    source: str = Field(
        DETECTOR,
        max_length=32,
        description="detector (derived from the metric series) or alertmanager (an alert "
        "posted to the gateway: its source's word, not a measurement).",
    )
    # Added in 1.2: why the episode ended. Events without it recovered.
    reason: Literal["recovered", "no_data"] = Field(
        RECOVERED,
        description="recovered (normal samples again) or no_data (the series sent nothing for "
        "SCOPS_SILENT_AFTER_S: a terminated instance, a deleted pod, a stopped exporter; "
        "resolved_at is its last sample, and nothing is said about the metric).",
    )

    @property
    def went_silent(self) -> bool:
        """The series stopped sending while anomalous: closed, not recovered."""
        return self.reason == NO_DATA

    @property
    def recovery_measured(self) -> bool:
        """The detector read the series back to normal: the only resolution that is evidence
        about the metric (an alert's source's word is not, nor is a series gone silent)."""
        return self.source == DETECTOR and self.reason == RECOVERED

    @staticmethod
    def derive_id(episode_id: uuid.UUID) -> uuid.UUID:
        """The id of the resolution of episode ``episode_id`` (one per episode)."""
        return uuid.uuid5(ANOMALY_NAMESPACE, f"{episode_id}\x1fresolved")


class RemediationStatus(StrEnum):
    PROPOSED = "proposed"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    BLOCKED = "blocked"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    DRY_RUN = "dry_run"
    NO_ACTION = "no_action"
    # Added in 1.2: post-action verification, and a rule switched to shadow mode for it.
    VERIFIED = "verified"
    NOT_IMPROVED = "not_improved"
    RULE_SHADOWED = "rule_shadowed"
    # Added in 1.4: a verification with no metric to judge by (only an alert's word).
    UNVERIFIED = "unverified"


APPROVAL_CHANNELS = {
    "api_key": "API key",
    "slack": "Slack",
    "chatops": "ChatOps",
    "console": "the console",
}


class ApprovalVote(BaseModel):
    """One person's approval or rejection of an action that waited for people (record 1.5):
    who, when, through which channel the gateway took it, and what they said."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "decision": "approved",
                    "by": "ana (key 4f1c0a9e2b7d)",
                    "person": "person:ana",
                    "via": "api_key",
                    "at": "2026-12-06T08:40:37Z",
                    "comment": "graphs look fine",
                },
                {
                    "decision": "approved",
                    "by": "ben (slack U0BEN)",
                    "person": "slack:T0TEAM:U0BEN",
                    "via": "slack",
                    "at": "2026-12-06T08:41:02Z",
                    "comment": "",
                },
            ]
        },
    )

    decision: Literal["approved", "rejected"] = "approved"
    by: str = Field(description="The name shown (a key's name, a Slack user's), as recorded.")
    person: str | None = Field(
        None, description="Who they are (a key owner, a Slack team and user): what M-of-N counts."
    )
    via: str | None = Field(
        None,
        description="The channel: api_key, slack (a button), chatops (a command, typed to the "
        "API or in Slack) or console; null when not known (approvals given before 1.5).",
    )
    at: UtcDatetime | None = Field(None, description="When; null when not known (before 1.5).")
    comment: str = ""

    def described(self) -> str:
        """``ana (key 4f1c) via Slack at 2026-12-06 08:40:01 UTC``: what is known of it."""
        text = self.by
        if self.via:
            text += f" via {APPROVAL_CHANNELS.get(self.via, self.via)}"
        if self.at is not None:
            text += f" at {self.at:%Y-%m-%d %H:%M:%S} UTC"
        return text


class RemediationRecord(Event):
    TYPE: ClassVar[str] = "remediation.record.v1"
    type: Literal["remediation.record.v1"] = "remediation.record.v1"
    anomaly_id: uuid.UUID
    resource_id: str
    metric: str
    severity: Severity
    action: str | None = None
    status: RemediationStatus
    reason: str
    executor: str = "dry-run"
    blocked_by: str | None = None
    output_excerpt: str = ""
    exit_code: int | None = None
    duration_s: float | None = None
    anomaly_value: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None
    anomaly_explanation: str = ""
    # Added in 1.1: which rule decided, on what, with which parameters, and who was involved.
    schema_version: str = "1.5"  # 1.4: the status unverified; 1.5: votes
    rule: str | None = Field(None, description="The rule that recommended the action.")
    risk: str | None = Field(None, description="Risk tier: low, medium or high.")
    shadow: bool = Field(False, description="A shadow rule's 'would have run': no effect.")
    target: str | None = Field(None, description="What the action acts on (instances, group).")
    params: dict[str, Any] = Field(default_factory=dict, description="The action's parameters.")
    run_id: str | None = Field(None, description="Ties together the records of one execution.")
    approval_id: str | None = None
    decided_by: str | None = Field(None, description="Who approved, rejected or requested it.")
    expires_at: UtcDatetime | None = Field(None, description="When a pending approval lapses.")
    command_id: str | None = Field(None, description="The SSM command id, once sent.")
    error_code: str | None = Field(None, description="AWS or executor error code of a failure.")
    # Added in 1.2: what a post-action verification watched and saw (statuses verified,
    # not_improved and rule_shadowed are new in 1.2 too).
    observed_metric: str | None = Field(None, description="The metric a verification watched.")
    observed_value: float | None = Field(
        None, description="That metric's latest value when the verification decided."
    )
    # Added in 1.3: when the anomaly's sample was taken, for the end-to-end latency.
    anomaly_observed_at: UtcDatetime | None = Field(
        None,
        description="The anomaly's observed_at (its sample's timestamp); null for manual requests.",
    )
    # Added in 1.5: every person who approved (and who rejected), when and through which
    # channel, oldest first. Records of 1.4 and earlier name them only in ``decided_by``.
    votes: list[ApprovalVote] = Field(
        default_factory=list,
        description="Each approval and the rejection of an action that waited for people, "
        "oldest first (approved, executed and rejected records carry them).",
    )


class NotificationStatus(StrEnum):
    DELIVERED = "delivered"
    OUTBOX = "outbox"
    FAILED = "failed"


class Notification(Event):
    TYPE: ClassVar[str] = "notification.sent.v1"
    type: Literal["notification.sent.v1"] = "notification.sent.v1"
    source_event_id: uuid.UUID
    kind: str
    channel: str
    status: NotificationStatus
    text: str
    attempts: int = 1
    error: str | None = None
    # Added in 1.1: one message may tell about several events (a group of alerts).
    schema_version: str = "1.1"
    message_id: str | None = Field(None, description="The notifier's id of the message.")
    receiver: str | None = Field(None, description="The receiver it was sent to.")
    source_event_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Every event the message tells about."
    )


class SlackClick(Event):
    """A Slack button click the gateway verified and answered: Slack does not send a click
    again once it has its answer, so it is kept on a stream before the answer and applied from
    there, at least once (a gateway killed in between leaves it to another, or its restart)."""

    TYPE: ClassVar[str] = "slack.click.v1"
    payload: str = Field(
        max_length=SLACK_CLICK_MAX,
        description="Slack's block_actions payload (JSON), as verified and read by the gateway.",
    )


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        MetricBatch,
        AnomalyEvent,
        AnomalyResolved,
        RemediationRecord,
        Notification,
        SlackClick,
    )
}


class EventDecodeError(ValueError):
    """An entry that is not a readable event of a known type and major version."""


def major_version(schema_version: str) -> int:
    head = schema_version.split(".", 1)[0]
    if not head.isdigit():
        raise EventDecodeError(f"schema_version {schema_version!r} is not MAJOR.MINOR")
    return int(head)


def decode_event(event_type: str, payload: bytes | str) -> Event:
    """Parse a stream payload into its model, refusing unknown types and major versions."""
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise EventDecodeError(f"unknown event type {event_type!r}")
    try:
        event = model.model_validate_json(payload)
    except ValueError as exc:
        raise EventDecodeError(f"invalid {event_type}: {exc}") from exc
    if major_version(event.schema_version) != major_version(SCHEMA_VERSION):
        raise EventDecodeError(
            f"{event_type} schema_version {event.schema_version} is not readable by this version"
        )
    return event


def event_json_schemas() -> dict[str, Any]:
    """JSON Schema of every event, for the contract snapshot test."""
    return {name: cls.model_json_schema() for name, cls in sorted(EVENT_TYPES.items())}
