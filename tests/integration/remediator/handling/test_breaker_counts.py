"""What the circuit breaker counts: a command that failed on the instance counts; a restart of a
unit the instance does not have (its name may come from an alert's labels) tried nothing, and
counting it would let anyone able to raise alerts stop every automatic action. The instance's
answer is played at the outermost edge: a real HTTP proxy in front of the local AWS server
reports the invocation failed with the script's exit code, as SSM would."""

from __future__ import annotations

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.core.actions.base import NOT_ON_TARGET_EXIT
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import HarnessFactory
from tests.support.aws_faults import aws_faults
from tests.support.aws_fleet import instances
from tests.support.remediator_fixtures import AnomalyFactory

RESTART = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    actions: [{action: restart_service, params: {service: "{label:service}", verify_s: 0}}]
"""


@pytest.mark.parametrize(
    ("exit_code", "error_code", "breaker_opens"),
    [(NOT_ON_TARGET_EXIT, "NotOnTarget", False), (1, "Failed", True)],
    ids=["unit-not-on-instance", "restart-failed"],
)
def test_the_breaker_counts_failures_of_what_was_tried(
    harness: HarnessFactory,
    anomaly: AnomalyFactory,
    aws: AwsApi,
    aws_url: str,
    exit_code: int,
    error_code: str,
    breaker_opens: bool,
) -> None:
    (instance,) = instances(aws, tags={"Name": "web"})
    with aws_faults(aws_url) as faults:
        faults.invocation_failure = (exit_code, "nosuch.service is not on this instance")
        h = harness(RESTART, aws_url=faults.url, breaker_failures=1, cooldown_s=0)
        sent = h.workflow.handle(anomaly(resource_id=instance, labels={"service": "nosuch"}))
        assert sent is not None and sent.status == RemediationStatus.RUNNING
        h.run_polls()
    (finished,) = [r for r in h.records() if r.status == RemediationStatus.FAILED]
    assert finished.error_code == error_code
    assert "nosuch.service is not on this instance" in (finished.output_excerpt or "")
    if breaker_opens:
        assert h.remediator.safety.breaker() is not None
    else:
        assert h.remediator.safety.breaker() is None
        assert "the circuit breaker does not count it" in finished.reason
