"""Targets from templates, debounce arithmetic and record ids (no I/O)."""

from __future__ import annotations

import uuid

import pytest

from services.remediator.core.records import record_id
from services.remediator.core.rules.schema import Match, Rule
from services.remediator.core.targets import Target, TargetError, TargetSpec, fill
from services.remediator.stores.debounce import Streak
from shared.events import RemediationStatus


def test_a_default_target_is_the_instance_or_its_name_tag() -> None:
    spec = TargetSpec()
    assert spec.resolve("i-0123456789abcdef0", "cpu", {}) == Target.for_instances(
        "i-0123456789abcdef0"
    )
    assert spec.resolve("web-1", "cpu", {}).key == "tag:Name=web-1"


def test_templates_fill_from_the_anomaly() -> None:
    labels = {"asg": "web-asg", "service": "nginx"}
    assert fill("{label:asg}", "web-1", "cpu", labels) == "web-asg"
    assert fill("{label:team|ops}", "web-1", "cpu", labels) == "ops"
    assert fill("{resource_id}-{metric}", "web-1", "cpu", labels) == "web-1-cpu"
    with pytest.raises(TargetError, match="no label 'team'"):
        fill("{label:team}", "web-1", "cpu", labels)
    group = TargetSpec(auto_scaling_group="{label:asg}").resolve("web-1", "cpu", labels)
    assert group.key == "asg:web-asg"


def test_invalid_targets_are_refused() -> None:
    with pytest.raises(TargetError, match="not EC2 instance ids"):
        Target.for_instances("web-1")
    with pytest.raises(ValueError, match="give one of"):
        TargetSpec(instance_id="{resource_id}", auto_scaling_group="x")
    with pytest.raises(ValueError, match="unknown placeholder"):
        TargetSpec(instance_id="{host}")


def rule(**fields: object) -> Rule:
    return Rule.model_validate(
        {"name": "r", "match": Match(metric=["cpu"]), "actions": [{"action": "x"}], **fields}
    )


def test_a_streak_holds_for_the_longer_of_lasted_and_its_span() -> None:
    lasting = rule(**{"for": "5m", "for_samples": 2})
    early = Streak(first_ms=0, last_ms=60_000, events=2, lasted_s=0)
    assert early.held_s == 60 and not early.satisfied(lasting)
    assert early.wait_s(lasting) == 240
    reported = Streak(first_ms=0, last_ms=0, events=2, lasted_s=301)
    assert reported.satisfied(lasting)
    few = Streak(first_ms=0, last_ms=600_000, events=1, lasted_s=0)
    assert not few.satisfied(lasting) and few.wait_s(lasting) is None
    assert "2 anomaly events (so far 1)" in few.explain(lasting)
    assert rule(**{"for": "1m"}).streak_gap == 600
    assert rule(**{"for": "1h"}).streak_gap == 7200


def test_record_ids_are_stable_per_decision() -> None:
    anomaly = uuid.uuid4()
    blocked = record_id(anomaly, "restart_service", RemediationStatus.BLOCKED)
    assert blocked == record_id(anomaly, "restart_service", RemediationStatus.BLOCKED)
    assert blocked != record_id(anomaly, "restart_service", RemediationStatus.DRY_RUN)
    assert blocked != record_id(anomaly, "restart_service", RemediationStatus.BLOCKED, "shadow:x")
