"""A target overlapping partly with one in cooldown is refused whole (the docs: "any
instance of the target was acted on within the cooldown"), on every path: the API's answer,
the worker's decision on a request queued before the cooldown started, and a rule's tag
target; nothing is sent to the instances that were not cooling down."""

from __future__ import annotations

from typing import Any

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.core.action_requests import ActionRequest
from services.remediator.errors import RequestRefusedError
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import instances, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
policy: {verify: off}
rules:
  - name: by-tag
    match: {metric: disk_*}
    actions:
      - action: cleanup_disk
        target: {tags: {Name: web}}
        params: {paths: ["/tmp"], clean_package_cache: false}
"""


def ask(h: Harness, target: dict[str, Any]) -> ActionRequest:
    return h.ask_cleanup(target)


def test_a_target_overlapping_one_in_cooldown_is_refused_whole_on_every_path(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    hot, cold = sorted(instances(aws, 2, tags={"Name": "web"}))
    h = harness(RULES, aws_url=aws_url)
    queued = ask(h, {"instance_ids": [cold, hot]})  # accepted now, queued for a worker
    first = h.workflow.execute_request(ask(h, {"instance_ids": [hot]}))
    assert first is not None and first.status == RemediationStatus.RUNNING
    h.run_polls()
    # The API refuses at once...
    with pytest.raises(RequestRefusedError) as refused:
        ask(h, {"instance_ids": [hot, cold]})
    assert refused.value.rule == "cooldown" and hot in refused.value.reason
    # ...the worker refuses what was queued before the cooldown started...
    late = h.workflow.execute_request(queued)
    assert late is not None
    assert (late.status, late.blocked_by) == (RemediationStatus.BLOCKED, "cooldown")
    # ...and a rule whose tag target resolves to both instances is refused too.
    by_rule = h.workflow.handle(anomaly(resource_id="web", metric="disk_used"))
    assert by_rule is not None
    assert (by_rule.status, by_rule.blocked_by) == (RemediationStatus.BLOCKED, "cooldown")
    assert by_rule.target == f"{hot},{cold}"
    assert len(sent_commands(aws)) == 1
    assert h.remediator.safety.state().cooldowns == (hot,)
