"""ChatOps names what a pending approval acts on, as the Slack message and the console do.
A request's ``resource_id`` is only a label, chosen by its requester (a rule's is the alert's
``instance`` label, chosen by the alert's sender, while the rule's target may come from another
label): an operator asks for ``scale_in`` on the production group ``prod-web`` with
``resource_id: sandbox-1``, and a second operator who lists the pending approvals, or approves
one, in ChatOps must read that the group is what it acts on."""

from __future__ import annotations

from datetime import UTC, datetime

from services.gateway.chatops import insight_words
from services.gateway.chatops.operations import _approval_subject
from services.remediator.aws.session import AwsApi
from services.remediator.handling.manual import ManualRequest, prepare
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import HarnessFactory
from tests.support.aws_fleet import groups

RULES = """\
version: 1
policy: {verify: off}
rules: []
"""


def test_chatops_names_the_target_a_pending_approval_acts_on(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    groups(aws, {"prod-web": 4})
    h = harness(RULES, aws_url=aws_url)
    body = ManualRequest.model_validate(
        {
            "action": "scale_in",  # high risk: waits for another person
            "target": {"auto_scaling_group": "prod-web"},
            "params": {"by": 1},
            "reason": "idle sandbox",
            "by": "mallory",
            "resource_id": "sandbox-1",  # "only a label" (docs/remediation.md)
        }
    )
    request = prepare(h.workflow, body, "cid", requested_by="person:mallory").request
    record = h.workflow.execute_request(request)
    assert record is not None and record.status == RemediationStatus.PENDING_APPROVAL
    assert record.target == "asg:prod-web"  # what Slack's approval message shows
    (approval,) = h.remediator.approvals.pending()
    listed = approval.model_dump(mode="json")  # as GET /remediation/approvals answers

    # `pending approvals` in ChatOps
    text = insight_words.approvals([listed], False, datetime.now(UTC))
    # the answer to `approve <id>` in ChatOps (and what a Slack approve command says)
    subject = _approval_subject(listed)

    assert "`scale_in` on prod-web (raised on sandbox-1)" in text, text
    assert subject == "`scale_in` on prod-web (raised on sandbox-1)"
