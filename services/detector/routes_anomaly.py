"""Synchronous scoring, status and feedback endpoints of the detector."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.detector.consumer import anomaly_key
from services.detector.engine import MODEL_VERSION, DetectionEngine, SeriesState
from services.detector.scoring.detector import SeriesDetector
from services.detector.scoring_pool import ScoringPool
from shared.events import FiniteFloat, MetricName, ResourceId, UtcDatetime
from shared.streams import PREFIX
from shared.web import PROBLEM_SCHEMA, require_internal_token

router = APIRouter(tags=["anomaly"])
FEEDBACK_STREAM = f"{PREFIX}:{{feedback}}"


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timestamp: UtcDatetime
    value: FiniteFloat


class ScoreRequest(BaseModel):
    """One sample (``value``, optional ``timestamp``) or a short series (``points``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"resource_id": "web-1", "metric": "cpu_utilization", "value": 97.5},
                {
                    "resource_id": "web-1",
                    "metric": "cpu_utilization",
                    "points": [
                        {"timestamp": "2026-11-26T18:00:00Z", "value": 41.0},
                        {"timestamp": "2026-11-26T18:01:00Z", "value": 96.0},
                    ],
                },
            ]
        },
    )
    resource_id: ResourceId
    metric: MetricName
    value: FiniteFloat | None = None
    timestamp: UtcDatetime | None = None
    points: list[Point] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_form(self) -> ScoreRequest:
        if (self.value is None) == (self.points is None):
            raise ValueError("give either value (one sample) or points (a short series)")
        return self

    def series(self) -> list[Point]:
        if self.points is not None:
            return self.points
        assert self.value is not None
        return [Point(timestamp=self.timestamp or datetime.now(UTC), value=self.value)]


class PointScore(BaseModel):
    timestamp: datetime
    value: float
    score: float = Field(description="Calibrated anomaly score in [0, 1].")
    is_anomaly: bool
    severity: str
    expected_low: float | None
    expected_high: float | None
    detectors: list[str]
    warming_up: bool


class ScoreResponse(BaseModel):
    resource_id: str
    metric: str
    model_version: str
    series_known: bool = Field(description="False: scored from a fresh state (warming up).")
    results: list[PointScore]


class BatchScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: list[ScoreRequest] = Field(min_length=1, max_length=100)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"verdict": "false_positive", "by": "alice"}]},
    )
    verdict: Literal["false_positive", "true_positive"]
    by: str = Field("unknown", max_length=128)
    note: str = Field("", max_length=2000)


def _engine(request: Request) -> DetectionEngine:
    engine: DetectionEngine = request.app.state.engine
    return engine


EngineDep = Annotated[DetectionEngine, Depends(_engine)]


SavedState = dict[str, Any] | None


def snapshot(engine: DetectionEngine, req: ScoreRequest) -> SavedState:
    """A copy of the series' live state (None: unknown series). Taken on the event loop, the
    only place the live state changes, so the copy is never half-updated."""
    live = engine.series.get((req.resource_id, req.metric))
    return live.to_state() if live is not None else None


def score_on(engine: DetectionEngine, req: ScoreRequest, saved: SavedState) -> ScoreResponse:
    """Score ``req`` on a state restored from ``saved`` (a copy of the live state: a question
    never changes the answer to the next sample). Touches no live state: safe off the loop."""
    state = (
        SeriesState.from_state(saved, engine.config)
        if saved is not None
        else SeriesState(SeriesDetector(engine.config))
    )
    results = []
    for point in req.series():
        verdict = engine.judge(state, req.metric, point.timestamp.timestamp(), point.value)
        if verdict is None:
            continue
        r = verdict.result
        results.append(
            PointScore(
                timestamp=point.timestamp,
                value=point.value,
                score=r.score,
                is_anomaly=verdict.alarm,
                severity=verdict.severity.value,
                expected_low=_finite(r.expected_low),
                expected_high=_finite(r.expected_high),
                detectors=list(r.detectors) + (["hard_limit"] if verdict.hard_limit else []),
                warming_up=r.warming_up,
            )
        )
    return ScoreResponse(
        resource_id=req.resource_id,
        metric=req.metric,
        model_version=MODEL_VERSION,
        series_known=saved is not None,
        results=results,
    )


def _finite(x: float) -> float | None:
    return x if x == x and abs(x) != float("inf") else None


async def score_off_loop(request: Request, reqs: list[ScoreRequest]) -> list[ScoreResponse]:
    """Copy the states on the event loop, score them in the pool: detection never waits for an
    API call, and a request costs at most ``anomaly_max_points`` points of work."""
    engine: DetectionEngine = request.app.state.engine
    pool: ScoringPool = request.app.state.scoring_pool
    limit: int = request.app.state.settings.anomaly_max_points
    points = sum(len(r.points) if r.points is not None else 1 for r in reqs)
    if points > limit:
        raise HTTPException(
            413, f"{points} points in one request; at most {limit} are scored per request"
        )
    saved = [(r, snapshot(engine, r)) for r in reqs]
    return await pool.run(lambda: [score_on(engine, r, s) for r, s in saved])


BUSY: dict[int | str, dict[str, Any]] = {
    413: PROBLEM_SCHEMA,
    422: PROBLEM_SCHEMA,
    503: PROBLEM_SCHEMA,
}


@router.post("/anomaly", summary="Score one sample or a short series now", responses=BUSY)
async def score(body: ScoreRequest, request: Request) -> ScoreResponse:
    return (await score_off_loop(request, [body]))[0]


@router.post("/anomaly/batch", summary="Score several series now", responses=BUSY)
async def score_batch(body: BatchScoreRequest, request: Request) -> list[ScoreResponse]:
    return await score_off_loop(request, body.requests)


@router.post(
    "/anomaly/{anomaly_id}/feedback",
    summary="Tell the detector an anomaly was a false or true positive",
    responses={401: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA},
    dependencies=[Depends(require_internal_token)],
)
async def feedback(
    anomaly_id: str, body: FeedbackRequest, request: Request, engine: EngineDep
) -> dict[str, Any]:
    redis = request.app.state.redis
    raw = await redis.get(anomaly_key(anomaly_id))
    if raw is None:
        raise HTTPException(404, f"anomaly {anomaly_id} is unknown or older than 7 days")
    anomaly = json.loads(raw)
    key = (anomaly["resource_id"], anomaly["metric"])
    state = engine.series.get(key)
    if state is not None:
        if body.verdict == "false_positive":
            state.feedback.false_positive(
                anomaly["value"], anomaly["expected_low"], anomaly["expected_high"]
            )
        else:
            state.feedback.true_positive()
        engine.dirty.add(key)
    await redis.xadd(
        FEEDBACK_STREAM,
        {
            "anomaly_id": anomaly_id,
            "verdict": body.verdict,
            "by": body.by,
            "note": body.note,
            "anomaly": raw,
        },
        maxlen=100_000,
        approximate=True,
    )
    return {
        "anomaly_id": anomaly_id,
        "verdict": body.verdict,
        "applied": state is not None,
        "threshold_bias": state.feedback.threshold_bias if state else None,
    }
