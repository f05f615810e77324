"""A maintenance window holds a target whichever way it is asked for: a window on its Name tag
holds it asked by instance id, a window on its id holds it asked by Name tag, and ``?`` is one
character of the name, as in deny-list patterns (EC2 is moto's server)."""

from __future__ import annotations

from typing import Any

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.errors import RequestRefusedError
from services.remediator.handling.manual import ManualRequest, prepare
from services.remediator.stores.maintenance import MaintenanceWindows
from shared.events import utcnow
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import instances, sent_commands

RULES = """\
version: 1
policy: {verify: off}
rules: []
"""


def window(h: Harness, pattern: str) -> None:
    now = utcnow()
    MaintenanceWindows(h.client).add(
        pattern, now, now.replace(year=now.year + 1), reason="deploy", created_by="ops"
    )


def refused(h: Harness, target: dict[str, Any]) -> RequestRefusedError:
    body = {
        "action": "cleanup_disk",
        "target": target,
        "params": {"paths": ["/tmp"], "clean_package_cache": False},
        "reason": "r",
        "by": "ana",
    }
    with pytest.raises(RequestRefusedError) as caught:
        prepare(h.workflow, ManualRequest.model_validate(body), "cid", requested_by="ana")
    return caught.value


def test_a_window_on_the_instance_id_holds_it_asked_by_name_tag(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "web-8"})
    h = harness(RULES, aws_url=aws_url)
    window(h, instance)
    assert refused(h, {"tags": {"Name": "web-8"}}).rule == "maintenance"


@pytest.mark.parametrize("name", ["web-ä", "web-日", "web-😀"])
def test_a_window_with_a_question_mark_holds_a_name_of_any_letter_asked_by_instance_id(
    name: str, harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": name})
    h = harness(RULES, aws_url=aws_url)
    window(h, "web-?")
    assert refused(h, {"instance_ids": [instance]}).rule == "maintenance"
    assert sent_commands(aws) == []
