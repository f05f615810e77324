"""Without AWS to look targets up (dry-run and local executors), an instance id or a group
name with a line break after it is not another target: it is refused, so it cannot start a
second cooldown beside the real one's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.remediator.handling.manual import ManualRequest, prepare
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import Harness, HarnessFactory

RULES = "version: 1\npolicy: {verify: off}\nrules: []\n"
INSTANCE = "i-0123456789abcdef0"


def ask(h: Harness, action: str, target: dict[str, object]) -> RemediationStatus:
    body = {"action": action, "target": target, "reason": "r", "by": "ana"}
    prepared = prepare(h.workflow, ManualRequest.model_validate(body), "cid", requested_by="ana")
    record = h.workflow.execute_request(prepared.request)
    assert record is not None
    return record.status


@pytest.mark.parametrize(
    ("action", "target", "respelled"),
    [
        ("cleanup_disk", {"instance_ids": [INSTANCE]}, {"instance_ids": [f"{INSTANCE}\n"]}),
        ("scale_out", {"auto_scaling_group": "web"}, {"auto_scaling_group": "web\n"}),
    ],
)
def test_a_trailing_line_break_does_not_make_another_target(
    harness: HarnessFactory, action: str, target: dict[str, object], respelled: dict[str, object]
) -> None:
    h = harness(RULES, executor="dry-run")
    assert ask(h, action, target) == RemediationStatus.DRY_RUN  # acted on (described)
    # Refused as the request is read: the name is no AWS name.
    with pytest.raises(ValidationError) as refused:
        ask(h, action, respelled)
    assert refused.value.errors()[0]["loc"][0] == "target"
    assert len(h.remediator.safety.state().cooldowns) == 1
