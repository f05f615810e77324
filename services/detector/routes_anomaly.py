"""Synchronous scoring, status and feedback endpoints of the detector."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from services.detector.consumer import ANOMALY_TTL_S, anomaly_key
from services.detector.deps import DetectorDep, get_detector
from services.detector.detection_engine import MODEL_VERSION, DetectionEngine, SeriesState
from services.detector.feedback import given_key
from services.detector.scoring.detector import SeriesDetector
from shared.identifiers import (
    CLOCKED_TIME,
    MetricName,
    ResourceId,
    SampleValue,
    ShownText,
    Timestamp,
    dated_now,
)
from shared.schema_alternatives import exactly_one_of
from shared.streams import PREFIX
from shared.time_bounds import TimeBounds
from shared.web import problem_responses, require_internal_token

router = APIRouter(tags=["anomaly"])
FEEDBACK_STREAM = f"{PREFIX}:{{feedback}}"


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=dated_now("timestamp"))
    timestamp: Timestamp = Field(description=CLOCKED_TIME)
    value: SampleValue


def _examples(schema: dict[str, Any]) -> None:
    """Examples dated now (whenever the API description is built): fixed dates would soon be
    refused as too old."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    dated_now("timestamp")(schema)
    schema["examples"] = [
        {"resource_id": "web-1", "metric": "cpu_utilization", "value": 97.5},
        {
            "resource_id": "web-1",
            "metric": "cpu_utilization",
            "points": [
                {"timestamp": (now - timedelta(minutes=1)).isoformat(), "value": 41.0},
                {"timestamp": now.isoformat(), "value": 96.0},
            ],
        },
    ]


class ScoreRequest(BaseModel):
    """One sample (``value``, optional ``timestamp``) or a short series (``points``)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=exactly_one_of(("value",), ("points",), then=_examples)
    )
    resource_id: ResourceId
    metric: MetricName
    value: SampleValue | None = None
    timestamp: Timestamp | None = Field(None, description=f"Default: now. {CLOCKED_TIME}")
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

    def times_refused(self, bounds: TimeBounds, now: datetime) -> list[tuple[tuple[Any, ...], str]]:
        """(where, why) of every time outside the accepted window around ``now``."""
        found: list[tuple[tuple[Any, ...], str]] = []
        if self.timestamp is not None and (why := bounds.refusal(self.timestamp, now)):
            found.append((("timestamp",), why))
        for j, point in enumerate(self.points or ()):
            if why := bounds.refusal(point.timestamp, now):
                found.append((("points", j, "timestamp"), why))
        return found


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
    suppressed: bool = Field(
        False,
        description="An alarm-level score muted (score 0) because the series alarmed a "
        "moment ago: the quiet period after an alarm, the same incident most likely.",
    )


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
    by: ShownText = Field("unknown", max_length=128)
    note: ShownText = Field("", max_length=2000)


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
                suppressed=r.suppressed,
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


RESPONSES = TypeAdapter(list[ScoreResponse])
Scored = list[tuple[ScoreRequest, SavedState]]


def scored_json(engine: DetectionEngine, saved: Scored, single: bool) -> bytes:
    """Score and write out the answer (both heavy: done in the pool)."""
    responses = [score_on(engine, req, state) for req, state in saved]
    return responses[0].model_dump_json().encode() if single else RESPONSES.dump_json(responses)


async def score_off_loop(
    request: Request, parse: Callable[[], list[ScoreRequest]], *, single: bool = False
) -> Response:
    """Parse, score and write out in the pool, copy the live states on the event loop in
    between: detection never waits for an API call. A request costs at most
    ``anomaly_max_points`` points of work, and at most ``anomaly_api_workers`` run at once."""
    detector = get_detector(request)
    engine, pool = detector.engine, detector.scoring_pool
    limit = detector.settings.anomaly_max_points
    async with pool.slot() as slot:
        try:
            reqs = await slot.call(parse)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        _refuse_times_out_of_bounds(reqs, detector.settings.time_bounds, single)
        points = sum(len(r.points) if r.points is not None else 1 for r in reqs)
        if points > limit:
            raise HTTPException(
                413, f"{points} points in one request; at most {limit} are scored per request"
            )
        saved = [(r, snapshot(engine, r)) for r in reqs]
        content = await slot.call(lambda: scored_json(engine, saved, single))
    return Response(content, media_type="application/json")


def _refuse_times_out_of_bounds(reqs: list[ScoreRequest], bounds: TimeBounds, single: bool) -> None:
    """A time too far from this detector's clock refuses the whole request (422), as the
    gateway refuses it on ingest: scoring it would teach nothing true."""
    now = datetime.now(UTC)
    errors = [
        {
            "loc": ("body", *(() if single else ("requests", i)), *where),
            "msg": why,
            "type": "value_error",
        }
        for i, req in enumerate(reqs)
        for where, why in req.times_refused(bounds, now)
    ]
    if errors:
        raise RequestValidationError(errors)


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` written in place (for ``openapi_extra``)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


BUSY = problem_responses(
    s413="More points than scored in one request (SCOPS_ANOMALY_MAX_POINTS)",
    s422="Invalid request: a field is missing, of the wrong type or out of range",
    s503="Every scoring slot is taken; try again after Retry-After",
    retry_after=(503,),
)
# The batch body is read raw and validated in the pool (half a second for the largest one), so
# its schema is given to the API documentation here.
BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline_refs(BatchScoreRequest.model_json_schema())}
        },
    }
}


@router.post(
    "/anomaly",
    summary="Score one sample or a short series now",
    response_model=ScoreResponse,
    responses=BUSY,
)
async def score(body: ScoreRequest, request: Request) -> Response:
    return await score_off_loop(request, lambda: [body], single=True)


@router.post(
    "/anomaly/batch",
    summary="Score several series now",
    response_model=list[ScoreResponse],
    responses=BUSY,
    openapi_extra=BATCH_BODY,
)
async def score_batch(request: Request) -> Response:
    raw = await request.body()
    return await score_off_loop(
        request, lambda: BatchScoreRequest.model_validate_json(raw).requests
    )


# Writes a verdict's entry in the feedback log and its mark in one step, once: nil when it
# wrote them, else the mark of the first time the verdict was given (nothing written). The mark
# outlives the anomaly's summary (written before it, with the same lifetime), so a verdict is
# never logged twice while the anomaly can still be given one.
LOG_ONCE = """
local first = redis.call('GET', KEYS[1])
if first then return first end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""
FEEDBACK_LOG_MAXLEN = 100_000


def given_mark_key(anomaly_id: str, verdict: str) -> str:
    """Where the feedback log marks a verdict as given (beside the log: one slot)."""
    return f"{FEEDBACK_STREAM}:given:{given_key(anomaly_id, verdict)}"


class FeedbackAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "anomaly_id": "0f9c2a4e-8d1b-4c6e-9a7f-3b2d1e0c5a61",
                    "verdict": "false_positive",
                    "applied": True,
                    "threshold_bias": 0.03,
                    "already_given": False,
                    "given_by": "alice",
                },
                {
                    "anomaly_id": "0f9c2a4e-8d1b-4c6e-9a7f-3b2d1e0c5a61",
                    "verdict": "false_positive",
                    "applied": True,
                    "threshold_bias": 0.03,
                    "already_given": True,
                    "given_by": "alice",
                },
            ]
        }
    )
    anomaly_id: str
    verdict: Literal["false_positive", "true_positive"]
    applied: bool = Field(
        description="True: the anomaly's series is kept by this detector and took the verdict "
        "(saved before this answer). False: the series is not kept here (unknown, or "
        "forgotten); the verdict is only logged."
    )
    threshold_bias: float | None = Field(
        description="The series' threshold bias now (None when not applied)."
    )
    already_given: bool = Field(
        description="True: this verdict on this anomaly was given before (a retry, a Slack "
        "click applied again, another person): nothing changed, and the answer is the first "
        "one's. A verdict is applied and logged once per anomaly."
    )
    given_by: str = Field(description="Who gave the verdict first.")


FEEDBACK_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The verdict is applied and logged, now or by an earlier call with the "
        "same anomaly and verdict (`already_given`): sending it again is safe.",
    },
    **problem_responses(401, s404="The anomaly is unknown, or older than 7 days"),
}


@router.post(
    "/anomaly/{anomaly_id}/feedback",
    summary="Tell the detector an anomaly was a false or true positive (once per verdict)",
    response_model=FeedbackAnswer,
    responses=FEEDBACK_ANSWERS,
    dependencies=[Depends(require_internal_token)],
)
async def feedback(anomaly_id: str, body: FeedbackRequest, detector: DetectorDep) -> FeedbackAnswer:
    """Applies a verdict once per anomaly and verdict: the series' state and its record of the
    verdicts it took are saved in one write, then the log entry and its mark in another, each
    step skipped when already done. A caller without an answer (a timeout, a detector killed
    between the two) sends it again and finishes it; a verdict given before answers as the
    first time, with ``already_given``."""
    redis, engine = detector.redis, detector.engine
    raw = await redis.get(anomaly_key(anomaly_id))
    if raw is None:
        raise HTTPException(404, f"anomaly {anomaly_id} is unknown or older than 7 days")
    anomaly = json.loads(raw)
    series = (anomaly["resource_id"], anomaly["metric"])
    mark = given_mark_key(anomaly_id, body.verdict)
    first = await redis.get(mark)
    if first is not None:
        return _answer(anomaly_id, body.verdict, engine, series, first, already=True)
    state = engine.series.get(series)
    took = False
    if state is not None:
        # Nothing awaited between the look and the change: a verdict arriving twice at once
        # is taken by one of them.
        took = state.feedback.take(
            given_key(anomaly_id, body.verdict),
            body.verdict,
            anomaly["value"],
            anomaly["expected_low"],
            anomaly["expected_high"],
        )
        engine.dirty.add(series)
        if detector.checkpointer is not None:
            # Kept before it is said applied (or logged), also when taken by an earlier call
            # whose own save may still be on its way.
            await detector.checkpointer.save_now(series)
    given = json.dumps({"applied": state is not None, "given_by": body.by})
    first = await redis.register_script(LOG_ONCE)(
        keys=[mark, FEEDBACK_STREAM],
        args=[
            given,
            ANOMALY_TTL_S,
            FEEDBACK_LOG_MAXLEN,
            *_fields(anomaly_id=anomaly_id, verdict=body.verdict, by=body.by, note=body.note),
            "anomaly",
            raw,
        ],
    )
    # Logged by another call meanwhile; or logged now, of a verdict the series took before.
    already = first is not None or (state is not None and not took)
    return _answer(anomaly_id, body.verdict, engine, series, first or given, already=already)


def _fields(**fields: str) -> list[str]:
    return [part for item in fields.items() for part in item]


def _answer(
    anomaly_id: str,
    verdict: Literal["false_positive", "true_positive"],
    engine: DetectionEngine,
    series: tuple[str, str],
    given: str | bytes,
    *,
    already: bool,
) -> FeedbackAnswer:
    first = json.loads(given)
    state = engine.series.get(series) if first["applied"] else None
    return FeedbackAnswer(
        anomaly_id=anomaly_id,
        verdict=verdict,
        applied=bool(first["applied"]),
        threshold_bias=state.feedback.threshold_bias if state is not None else None,
        already_given=already,
        given_by=str(first["given_by"]),
    )
