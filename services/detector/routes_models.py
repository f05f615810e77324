"""Training and model version endpoints of the detector (admin, through the gateway)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from services.detector.deps import ModelsDep, get_detector
from services.detector.model_manager import history
from services.detector.model_store import (
    ModelDoesNotFitError,
    ModelStoreError,
    NoPreviousVersionError,
)
from services.detector.training import Sample, TimeRange, TrainingJob
from services.detector.training_sources import (
    CloudWatchSource,
    PrometheusSource,
    SourceRefused,
    check_allowed,
    samples_from,
)
from shared.events import UtcDatetime
from shared.history_series import HistoryError
from shared.identifiers import (
    Labels,
    MetricName,
    ResourceId,
    SampleValue,
    ShownText,
    Timestamp,
)
from shared.web import problem_responses, require_internal_token

router = APIRouter(tags=["models"], dependencies=[Depends(require_internal_token)])


class Exclusion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: UtcDatetime
    end: UtcDatetime
    reason: ShownText = Field("", max_length=200, examples=["deployment"])

    @model_validator(mode="after")
    def _ordered(self) -> Exclusion:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class UploadedSample(BaseModel):
    """One sample of an uploaded history, read as strictly as the ingest API reads one (a
    value of ``true`` is no 1.0 to train on); old times are fine here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource_id: ResourceId = Field(examples=["i-0abc123def4567890"])
    metric: MetricName = Field(examples=["cpu_utilization"])
    value: SampleValue = Field(examples=[42.5])
    timestamp: Timestamp = Field(examples=["2026-11-26T18:00:00Z"])
    labels: Labels = Field(default_factory=dict, examples=[{"service": "nginx", "env": "prod"}])


class TrainRequest(BaseModel):
    """Train from the metric streams' recent history, from samples sent with the request, or
    from history read from Prometheus (a server under SCOPS_TRAIN_SOURCES_ALLOWED_URLS) or
    CloudWatch (with the detector's AWS settings)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "history",
                    "since": "2026-11-25T00:00:00Z",
                    "exclude": [
                        {
                            "start": "2026-11-25T14:00:00Z",
                            "end": "2026-11-25T14:30:00Z",
                            "reason": "deployment",
                        }
                    ],
                },
                {
                    "source": "prometheus",
                    "prometheus": {
                        "url": "http://prometheus:9090",
                        "query": 'cpu_utilization{job="node"}',
                        "start": "2026-11-24T00:00:00Z",
                        "end": "2026-11-25T00:00:00Z",
                        "step": 60,
                    },
                },
                {
                    "source": "cloudwatch",
                    "cloudwatch": {
                        "namespace": "AWS/EC2",
                        "metric": "CPUUtilization",
                        "dimensions": {"InstanceId": "i-0abc123def4567890"},
                        "start": "2026-11-24T00:00:00Z",
                        "end": "2026-11-25T00:00:00Z",
                        "stat": "Average",
                        "period": 300,
                    },
                },
            ]
        },
    )
    source: Literal["history", "upload", "prometheus", "cloudwatch"] = "history"
    since: UtcDatetime | None = Field(None, description="History from (default: a day ago).")
    until: UtcDatetime | None = Field(
        None, description="History until (default: now); after `since`."
    )
    exclude: list[Exclusion] = Field(default_factory=list, max_length=100)
    samples: list[UploadedSample] | None = Field(None, max_length=200_000)
    prometheus: PrometheusSource | None = None
    cloudwatch: CloudWatchSource | None = None

    @field_validator("until")
    @classmethod
    def _after_since(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if until is None:
            return None
        if since is not None and until <= since:
            raise ValueError("must be after since")
        if since is None and until - datetime.min.replace(tzinfo=UTC) < timedelta(days=1):
            raise ValueError(
                "must be at least a day after 0001-01-01 (since defaults to a day before)"
            )
        return until

    @model_validator(mode="after")
    def _source_matches(self) -> TrainRequest:
        if (self.source == "upload") != (self.samples is not None):
            raise ValueError("samples are given exactly when source is 'upload'")
        if (self.source == "prometheus") != (self.prometheus is not None):
            raise ValueError("prometheus is given exactly when source is 'prometheus'")
        if (self.source == "cloudwatch") != (self.cloudwatch is not None):
            raise ValueError("cloudwatch is given exactly when source is 'cloudwatch'")
        return self


class JobView(BaseModel):
    job_id: str
    status: str
    stage: str
    progress: float
    source: str
    version: str | None
    error: str | None
    trained_on: dict[str, Any]
    holdout: dict[str, Any]

    @classmethod
    def of(cls, job: TrainingJob) -> JobView:
        return cls(**{name: getattr(job, name) for name in cls.model_fields})


async def _uploaded(samples: list[UploadedSample]) -> AsyncIterator[Sample]:
    for s in samples:
        yield s.resource_id, s.metric, s.timestamp.timestamp(), s.value


@router.post(
    "/anomaly/train",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Train the multivariate model (runs in the background)",
    responses=problem_responses(
        401,
        s403="The detector may not read that source (see SCOPS_TRAIN_SOURCES_ALLOWED_URLS, "
        "SCOPS_AWS_REGION)",
        s413="The range holds more points than SCOPS_TRAIN_SOURCE_MAX_POINTS",
        s409="A training job is still running in this process: wait for it",
    ),
)
async def start_training(
    request: Request, models: ModelsDep, body: TrainRequest | None = None
) -> JobView:
    # No body: the defaults (the last day of the metric streams), as ``{}`` would say.
    body = body or TrainRequest()
    running = models.running_job()
    if running is not None:
        raise HTTPException(
            409, f"training job {running.job_id} is still running: wait for it to finish"
        )
    exclude = [TimeRange(e.start.timestamp(), e.end.timestamp()) for e in body.exclude]
    remote = body.prometheus or body.cloudwatch
    samples: AsyncIterator[Sample]
    if remote is not None:
        settings = get_detector(request).settings
        try:
            check_allowed(remote, settings)
        except SourceRefused as exc:
            raise HTTPException(403, str(exc)) from exc
        except HistoryError as exc:
            raise HTTPException(413, str(exc)) from exc
        samples = samples_from(remote, settings)
    elif body.samples is not None:
        samples = _uploaded(body.samples)
    else:
        until = body.until or datetime.now(UTC)
        since = body.since or until - timedelta(days=1)
        detector = get_detector(request)
        samples = history(detector.redis, detector.history_streams, since, until)
    return JobView.of(models.start_training(body.source, samples, exclude))


@router.get(
    "/anomaly/train/{job_id}",
    summary="Progress of a training job",
    responses=problem_responses(401, 404),
)
async def training_job(job_id: str, models: ModelsDep) -> JobView:
    job = models.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no training job {job_id} on this detector")
    return JobView.of(job)


@router.get(
    "/anomaly/models",
    summary="Model versions and the active one",
    responses=problem_responses(401),
)
async def list_models(models: ModelsDep) -> dict[str, Any]:
    return {"active": models.version, "versions": models.versions()}


@router.post(
    "/anomaly/models/{version}/activate",
    summary="Make a saved version the active model",
    responses=problem_responses(
        401,
        s404="No such saved version, or it cannot be read",
        s409="The version was trained on other metrics than SCOPS_MULTIVARIATE_METRICS",
    ),
)
async def activate(version: str, models: ModelsDep) -> dict[str, Any]:
    try:
        await models.activate(version)
    except ModelDoesNotFitError as exc:
        raise HTTPException(409, f"cannot activate {version}: {exc}") from exc
    except (ModelStoreError, FileNotFoundError) as exc:
        raise HTTPException(404, f"cannot activate {version}: {exc}") from exc
    return {"active": models.version}


@router.post(
    "/anomaly/models/rollback",
    summary="Return to the previously active version",
    responses=problem_responses(
        401,
        s409="No previous version to return to, or it was trained on other metrics than "
        "SCOPS_MULTIVARIATE_METRICS",
    ),
)
async def rollback(models: ModelsDep) -> dict[str, Any]:
    try:
        version = await models.rollback()
    except (NoPreviousVersionError, ModelDoesNotFitError) as exc:
        raise HTTPException(409, str(exc)) from exc
    return {"active": version}
