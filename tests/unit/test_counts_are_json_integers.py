"""A count, a period or a step in a request body is a JSON number: ``true`` is not 1. Read
leniently, ``{"limit": true}`` replayed one dead letter, ``"step": true`` asked Prometheus for
one point a second, and an uploaded history trained on ``true`` as 1.0."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.detector.routes_models import UploadedSample
from services.detector.training_sources import CloudWatchSource, PrometheusSource
from services.notifier.api.routes_notifications import ReplayRequest
from services.notifier.api.routes_silences import SilenceRequest

RANGE = {"start": "2026-12-06T00:00:00Z", "end": "2026-12-07T00:00:00Z"}
CASES: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (ReplayRequest, {}, "limit"),
    (SilenceRequest, {"matchers": {"resource": "web-1"}, "created_by": "ana"}, "duration_s"),
    (
        CloudWatchSource,
        {**RANGE, "namespace": "AWS/EC2", "metric": "CPUUtilization", "dimensions": {"a": "b"}},
        "period",
    ),
    (PrometheusSource, {**RANGE, "url": "http://prometheus:9090", "query": "up"}, "step"),
    (
        UploadedSample,
        {"resource_id": "web-1", "metric": "cpu", "timestamp": "2026-12-01T00:00:00Z"},
        "value",
    ),
]


@pytest.mark.parametrize(("model", "body", "field"), CASES, ids=[c[2] for c in CASES])
@pytest.mark.parametrize("given", [True, False, "120"])
def test_a_boolean_or_a_string_is_refused_naming_the_field(
    model: type[BaseModel], body: dict[str, Any], field: str, given: Any
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({**body, field: given})
    assert [e["loc"][0] for e in refused.value.errors()] == [field]


@pytest.mark.parametrize(("model", "body", "field"), CASES, ids=[c[2] for c in CASES])
@pytest.mark.parametrize("given", [120, 120.0])
def test_a_json_number_is_still_read(
    model: type[BaseModel], body: dict[str, Any], field: str, given: Any
) -> None:
    """JSON Schema counts 120.0 as an integer, and so do these fields."""
    assert getattr(model.model_validate({**body, field: given}), field) == 120


@pytest.mark.parametrize(("model", "body", "field"), CASES[:3], ids=[c[2] for c in CASES[:3]])
def test_a_count_with_a_fraction_is_refused(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate({**body, field: 120.5})
