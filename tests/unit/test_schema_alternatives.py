"""A body whose fields come in alternatives is documented with oneOf, and the document and the
model agree on every combination: what the schema accepts, the model accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError

from services.detector.routes_anomaly import ScoreRequest
from services.notifier.api.routes_silences import AcknowledgeRequest, SilenceRequest
from services.remediator.api.routes_admin import WindowIn

BASE: dict[type[BaseModel], dict[str, Any]] = {
    ScoreRequest: {"resource_id": "web-1", "metric": "cpu_utilization"},
    SilenceRequest: {"matchers": {"resource": "web-*"}, "created_by": "ana"},
    AcknowledgeRequest: {"by": "ana"},
    WindowIn: {"target_pattern": "web-*", "by": "ana"},
}
SOON = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
CHOICES: dict[type[BaseModel], dict[str, Any]] = {
    ScoreRequest: {"value": 97.5, "points": [{"timestamp": "2026-12-06T12:00:00Z", "value": 1}]},
    SilenceRequest: {"duration_s": 3600, "ends_at": SOON},
    AcknowledgeRequest: {"resource_id": "web-1", "metric": "cpu", "group_id": "a" * 24},
    WindowIn: {"duration": "2h", "ends_at": SOON},
}


def _combinations(model: type[BaseModel]) -> list[dict[str, Any]]:
    names = list(CHOICES[model])
    bodies = []
    for mask in range(1 << len(names)):
        for null in (False, True):
            body = dict(BASE[model])
            for i, name in enumerate(names):
                if mask >> i & 1:
                    body[name] = None if null else CHOICES[model][name]
            bodies.append(body)
    return bodies


@pytest.mark.parametrize("model", list(BASE), ids=lambda m: m.__name__)
def test_the_documented_alternatives_are_exactly_what_is_accepted(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    assert "oneOf" in schema
    one_of = {"oneOf": schema["oneOf"]}
    for body in _combinations(model):
        documented = jsonschema_rs.validator_for(one_of).is_valid(body)
        try:
            model.model_validate(body)
            accepted = True
        except ValidationError:
            accepted = False
        assert documented == accepted, (body, documented, accepted)
