"""Prometheus Alertmanager webhook payloads (version 4) as anomaly events (no I/O).

A firing alert becomes an ``anomaly.detected`` event, a resolved one an ``anomaly.resolved``
event whose ``source`` is ``alertmanager``, whatever the alert says: an alert anyone with an
ingest key can post is its sender's word, so the remediator never takes it for the detector's
reading of a metric (it neither verifies an action nor ends a debounce streak with it).

The value is the alert's ``value`` annotation. An alert without one (or with one that is no
finite number) has no value: its event says ``value_given`` false, with ``value`` 0 (meaningless),
and every reader shows "no value given", never a made-up number.

The anomaly id is derived from the alert's fingerprint and start time, so Alertmanager's
repeated notifications of one alert are the same anomaly (and act at most once).

Each alert is judged on its own: one whose labels break the rules of ``shared.identifiers``
(an invisible or control character, too many or too long), whose fingerprint holds a lone
surrogate (``"\\ud800"``, no text), that names no resource, or whose
time is too far from the gateway's clock is skipped with its reason and the rest are accepted.
Alertmanager retries a failed notification of the whole group, so one bad alert must neither
fail the others nor make the group fail forever.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.events import (
    ALERTMANAGER,
    ANOMALY_NAMESPACE,
    AnomalyEvent,
    AnomalyResolved,
    Event,
    Severity,
    UtcDatetime,
    utcnow,
)
from shared.identifiers import METRIC_MAX, Labels, ResourceId, visible
from shared.json_bounds import JsonBoundsError, check_bounds
from shared.time_bounds import TimeBounds

SOURCE = ALERTMANAGER
MAX_ALERTS = 10_000  # per notification
RESOURCE_LABELS = ("resource_id", "instance", "pod", "host", "node", "job")
SEVERITY_LABELS = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "major": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "minor": Severity.LOW,
    "low": Severity.LOW,
    "info": Severity.LOW,
}


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    # RFC 3339 text, as Alertmanager sends it (a number is refused, not read as milliseconds);
    # a time without a zone is UTC. Not bounded here: each alert's times are judged alone when
    # the alerts are read.
    startsAt: UtcDatetime
    endsAt: UtcDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


def _example(schema: dict[str, Any]) -> None:
    """An example dated now (whenever the API description is built): a fixed date would
    soon be refused as too old."""
    starts = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    schema["examples"] = [
        {
            "version": "4",
            "groupKey": '{}:{alertname="HighCPU"}',
            "status": "firing",
            "receiver": "smartcloudops",
            "groupLabels": {"alertname": "HighCPU"},
            "commonLabels": {"alertname": "HighCPU", "severity": "critical"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "HighCPU",
                        "metric": "cpu_utilization",
                        "instance": "web-1",
                        "severity": "critical",
                    },
                    "annotations": {"summary": "CPU above 95 % for 5 minutes", "value": "97.2"},
                    "startsAt": starts.isoformat(),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": "c2a3f6e1b0d4a9e8",
                }
            ],
        }
    ]


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_example)
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    # Alertmanager sends a group's every alert at once (``max_alerts`` 0: no limit) and does
    # not send a notification again after a 4xx: the cap is one no real group reaches, below
    # what SCOPS_MAX_BODY_BYTES lets through anyway.
    alerts: list[Alert] = Field(min_length=1, max_length=MAX_ALERTS)


class UnmappableAlertError(ValueError):
    """An alert that names no resource."""


def _resource(alert: Alert) -> str:
    """The resource the alert names, exactly: never cut or rewritten into another name (a
    cut or respelled id can be another resource's, and the remediator acts on it)."""
    for label in RESOURCE_LABELS:
        value = alert.labels.get(label, "")
        if value:  # an empty label is no label (as Prometheus reads it); spaces are kept
            try:
                return _RESOURCE_ID.validate_python(value)
            except ValidationError as exc:
                reason = str(exc.errors(include_url=False)[0]["msg"])
                raise UnmappableAlertError(
                    f"labels.{label}: {reason.removeprefix('Value error, ')}; the alert is "
                    "not acted on"
                ) from None
    raise UnmappableAlertError(
        f"alert {alert.labels.get('alertname', '?')} has none of the labels "
        f"{', '.join(RESOURCE_LABELS)}"
    )


def _metric(alert: Alert) -> str:
    """The alert's ``metric`` label when it has one (so rules written for the detector's
    metrics, ``cpu_utilization``, apply to it), else its ``alertname``."""
    said = alert.labels.get("metric") or alert.labels.get("alertname") or "alert"
    name = re.sub(r"[^A-Za-z0-9_.:\-]", "_", said)
    name = name if name[:1].isalpha() or name[:1] == "_" else f"alert_{name}"
    return name[:METRIC_MAX]


NO_VALUE = 0.0  # an alert's ``value`` when it gives none (``value_given`` false): meaningless


def _value(alert: Alert) -> float | None:
    """The ``value`` annotation, if it is a finite number; else None: the alert gave no value
    (never a made-up one, which every reader would show as if it had been measured)."""
    try:
        value = float(alert.annotations.get("value", ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def anomaly_id(alert: Alert) -> uuid.UUID:
    """The same alert episode, sent again, is the same anomaly (acted on at most once). The
    resource and metric are part of the id: a fingerprint is the sender's word, and two alerts
    about different resources sharing one must not be taken for a repeat, nor one's
    resolution close the other."""
    key = alert.fingerprint or repr(sorted(alert.labels.items()))
    about = f"{_resource(alert)}\x1f{_metric(alert)}"
    return uuid.uuid5(
        ANOMALY_NAMESPACE, f"alertmanager\x1f{about}\x1f{key}\x1f{alert.startsAt.isoformat()}"
    )


class SkippedAlert(BaseModel):
    index: int = Field(description="Position of the alert in `alerts`.")
    fingerprint: str = Field(description="Its fingerprint (cut to 64 characters).")
    reason: str = Field(description="Why it was not accepted.")


class AlertsAccepted(BaseModel):
    firing: int
    resolved: int
    anomaly_ids: list[str]
    skipped: list[SkippedAlert] = Field(
        default_factory=list,
        description="Alerts not accepted (the others were): invalid labels, a fingerprint that "
        "is no text, no resource, or a time too far from the gateway's clock.",
    )


@dataclass
class AlertBatch:
    """What a payload became: the events of the alerts accepted, and the alerts skipped."""

    events: list[Event] = field(default_factory=list)
    skipped: list[SkippedAlert] = field(default_factory=list)


_LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)
_RESOURCE_ID: TypeAdapter[str] = TypeAdapter(ResourceId)


def _labels_refusal(labels: dict[str, str]) -> str | None:
    try:
        _LABELS.validate_python(labels)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in ("labels", *error["loc"][:1]))
        return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
    return None


def _fingerprint_refusal(alert: Alert) -> str | None:
    """The fingerprint names the anomaly (its id is derived from it): a lone surrogate, which
    no UTF-8 encoder can write, names nothing."""
    try:
        check_bounds(alert.fingerprint)
    except JsonBoundsError as exc:
        return f"fingerprint: {exc.reason}"
    return None


def _time_refusal(alert: Alert, bounds: TimeBounds, now: datetime) -> str | None:
    """A firing alert is as old as its start; a resolved one is judged by its end, and its
    start (perhaps long ago, for a long episode) only must not lie ahead. The ``endsAt`` of a
    firing alert is Alertmanager's zero time or a projected expiry: not looked at."""
    if alert.status == "firing":
        why = bounds.refusal(alert.startsAt, now, numbers=False)
        return f"startsAt: {why}" if why else None
    if alert.endsAt is not None and (why := bounds.refusal(alert.endsAt, now, numbers=False)):
        return f"endsAt: {why}"
    if alert.endsAt is not None and alert.endsAt < alert.startsAt:
        return (
            f"endsAt: {alert.endsAt.isoformat()} is before startsAt "
            f"{alert.startsAt.isoformat()}; a resolved alert ends after it starts"
        )
    why = (
        bounds.too_far_ahead(alert.startsAt, now, numbers=False)
        if alert.endsAt is not None
        else bounds.refusal(alert.startsAt, now, numbers=False)
    )
    return f"startsAt: {why}" if why else None


def _event(alert: Alert, correlation_id: str, sent_by: str | None) -> Event:
    resource, metric = _resource(alert), _metric(alert)
    labels = dict(alert.labels)
    severity = SEVERITY_LABELS.get(alert.labels.get("severity", "").lower(), Severity.HIGH)
    if alert.status == "firing":
        summary = alert.annotations.get("summary") or alert.annotations.get("description")
        given = _value(alert)
        value = NO_VALUE if given is None else given
        return AnomalyEvent(
            sent_by=sent_by,
            event_id=anomaly_id(alert),
            correlation_id=correlation_id,
            resource_id=resource,
            metric=metric,
            value=value,
            observed_at=alert.startsAt,
            score=1.0,
            severity=severity,
            expected_low=value,
            expected_high=value,
            detectors=["alertmanager"],
            model_version="alertmanager",
            explanation=visible(summary)[:2000]
            if summary
            else f"Prometheus alert {metric} is firing",
            labels=labels,
            episode_started_at=alert.startsAt,
            value_given=given is not None,
        )
    ended = alert.endsAt or alert.startsAt
    return AnomalyResolved(
        correlation_id=correlation_id,
        anomaly_id=anomaly_id(alert),
        resource_id=resource,
        metric=metric,
        started_at=alert.startsAt,
        resolved_at=ended,
        duration_s=max((ended - alert.startsAt).total_seconds(), 0.0),
        peak_severity=severity,
        last_value=NO_VALUE if (last := _value(alert)) is None else last,
        labels=labels,
        source=SOURCE,
    )


def read_alerts(
    payload: AlertmanagerPayload,
    correlation_id: str,
    bounds: TimeBounds | None = None,
    now: datetime | None = None,
    sent_by: str | None = None,
) -> AlertBatch:
    """Every alert as an event, or skipped with the reason (``bounds``: times are checked
    against ``now``; ``sent_by``: the person whose key posted them)."""
    batch = AlertBatch()
    now = now or utcnow()
    for index, alert in enumerate(payload.alerts):
        why = _labels_refusal(alert.labels) or _fingerprint_refusal(alert)
        if why is None and bounds is not None:
            why = _time_refusal(alert, bounds, now)
        if why is None:
            try:
                batch.events.append(_event(alert, correlation_id, sent_by))
            except (UnmappableAlertError, ValidationError) as exc:
                why = str(exc) if isinstance(exc, UnmappableAlertError) else _first(exc)
        if why is not None:
            fingerprint = visible(alert.fingerprint)[:64]
            batch.skipped.append(SkippedAlert(index=index, fingerprint=fingerprint, reason=why))
    return batch


def accepted(batch: AlertBatch) -> AlertsAccepted:
    firing = [e for e in batch.events if isinstance(e, AnomalyEvent)]
    return AlertsAccepted(
        firing=len(firing),
        resolved=len(batch.events) - len(firing),
        anomaly_ids=[str(e.event_id) for e in firing],
        skipped=batch.skipped,
    )


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"]) or "alert"
    return f"{where}: {error['msg']}"


def to_events(payload: AlertmanagerPayload, correlation_id: str) -> list[Event]:
    """Every alert's event, times not checked; raises on the first alert that is not one."""
    batch = read_alerts(payload, correlation_id)
    if batch.skipped:
        raise UnmappableAlertError(batch.skipped[0].reason)
    return batch.events
