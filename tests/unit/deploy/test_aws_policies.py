"""deploy/aws/iam: each role that touches AWS is granted exactly the API calls its code makes
(found by scanning the source), and the risky ones only on what carries the opt-in tag, on the
document the code sends, and under the environment's parameter path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.remediator.aws.ssm_commands import DOCUMENT
from tests.support.observability_files import DEPLOY, ROOT
from tests.unit.deploy.aws_calls import AwsCall, aws_calls

IAM = DEPLOY / "aws" / "iam"
# Which role a service's code runs as. Gateway and history call no AWS API.
ROLES = {
    "remediator": "remediator-policy.json",
    "notifier": "notifier-policy.json",
    "collector": "collector-policy.json",
    "detector": "detector-policy.json",
}
# AWS calls in shared/ count for each service that makes them: CloudWatch history is fetched by
# the collector and by the detector (training); only the collector assumes other accounts' roles.
SHARED_CALLERS = {
    "shared/cloudwatch/fetch.py": ("collector", "detector"),
    "shared/cloudwatch/access.py": ("collector",),
}
# The role the collector assumes in each other account it reads.
READER = "collector-reader-policy.json"
# The role the remediator assumes in each other account it acts in.
ACTOR = "remediator-actor-policy.json"
PARAMETER_READERS = ("notifier", "remediator")
OPT_IN = "SmartCloudOpsRemediation"
PARAMETERS = "arn:aws:ssm:${AWS_REGION}:${AWS_ACCOUNT_ID}:parameter/smartcloudops/${SCOPS_ENV}/*"


def _statements(role: str) -> list[dict[str, Any]]:
    policy = json.loads((IAM / ROLES.get(role, role)).read_text())
    assert policy["Version"] == "2012-10-17"
    statements: list[dict[str, Any]] = policy["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    return statements


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _granted(role: str) -> set[str]:
    return {a for s in _statements(role) for a in _listed(s["Action"])}


def _calls_by_role() -> dict[str, list[AwsCall]]:
    by_role: dict[str, list[AwsCall]] = {}
    for call in aws_calls(ROOT / "services") + aws_calls(ROOT / "shared"):
        where = call.path.relative_to(ROOT)
        callers = SHARED_CALLERS.get(where.as_posix(), (where.parts[1],))
        for service in callers:
            assert service in ROLES, f"{call.path}:{call.line}: {service} has no AWS role"
            by_role.setdefault(service, []).append(call)
    return by_role


def test_the_scanner_finds_the_calls_we_know_of() -> None:
    actions = {c.iam_action() for calls in _calls_by_role().values() for c in calls}
    assert {
        "ssm:SendCommand",
        "autoscaling:SetDesiredCapacity",
        "ssm:GetParameter",
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
        "tag:GetResources",
        "sts:AssumeRole",
    } <= actions


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_is_granted_what_its_code_calls_and_nothing_else(role: str) -> None:
    used = {call.iam_action() for call in _calls_by_role().get(role, [])}
    granted = _granted(role)
    # kms:Decrypt is not an API call of ours: SSM makes it for GetParameter(WithDecryption).
    assert sorted(used - granted) == [], "called but not granted"
    assert sorted(granted - used - {"kms:Decrypt"}) == [], "granted but never called"
    assert ("kms:Decrypt" in granted) == ("ssm:GetParameter" in used)


def _statement_for(role: str, action: str) -> list[dict[str, Any]]:
    return [s for s in _statements(role) if action in _listed(s["Action"])]


def test_commands_run_only_the_shipped_document_and_only_on_opted_in_instances() -> None:
    document, instances = sorted(
        _statement_for("remediator", "ssm:SendCommand"), key=lambda s: "Condition" in s
    )
    assert _listed(document["Resource"]) == [f"arn:aws:ssm:${{AWS_REGION}}::document/{DOCUMENT}"]
    assert _listed(instances["Resource"]) == [
        "arn:aws:ec2:${AWS_REGION}:${AWS_ACCOUNT_ID}:instance/*"
    ]
    assert instances["Condition"] == {"StringEquals": {f"ssm:resourceTag/{OPT_IN}": "${SCOPS_ENV}"}}


def test_changes_to_groups_and_instances_need_the_opt_in_tag() -> None:
    (scale,) = _statement_for("remediator", "autoscaling:SetDesiredCapacity")
    assert scale["Condition"] == {
        "StringEquals": {f"autoscaling:ResourceTag/{OPT_IN}": "${SCOPS_ENV}"}
    }
    (monitor,) = _statement_for("remediator", "ec2:MonitorInstances")
    assert monitor["Condition"] == {"StringEquals": {f"aws:ResourceTag/{OPT_IN}": "${SCOPS_ENV}"}}


@pytest.mark.parametrize("role", PARAMETER_READERS)
def test_parameters_and_their_key_are_this_environments_only(role: str) -> None:
    (read,) = _statement_for(role, "ssm:GetParameter")
    assert _listed(read["Resource"]) == [PARAMETERS]
    (decrypt,) = _statement_for(role, "kms:Decrypt")
    assert _listed(decrypt["Resource"]) == [
        "arn:aws:kms:${AWS_REGION}:${AWS_ACCOUNT_ID}:key/${KMS_KEY_ID}"
    ]
    assert decrypt["Condition"]["StringEquals"] == {
        "kms:ViaService": "ssm.${AWS_REGION}.amazonaws.com"
    }
    assert decrypt["Condition"]["StringLike"] == {"kms:EncryptionContext:PARAMETER_ARN": PARAMETERS}


def test_wildcard_resources_only_for_calls_without_resource_level_permissions() -> None:
    wildcard_ok = {
        "ssm:GetCommandInvocation",
        "ssm:ListCommands",
        "ssm:ListCommandInvocations",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "ec2:DescribeInstances",
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
        "tag:GetResources",
    }
    for role in [*ROLES, READER, ACTOR]:
        for statement in _statements(role):
            if "*" in _listed(statement["Resource"]):
                assert set(_listed(statement["Action"])) <= wildcard_ok, statement["Sid"]


def test_the_parameters_the_code_reads_are_under_the_granted_path() -> None:
    from services.notifier.config import NotifierSettings
    from services.remediator.aws.auto_approval import parameter_name

    prefix = "/smartcloudops/prod/"
    assert NotifierSettings().slack_webhook_parameter.format(env="prod").startswith(prefix)
    assert parameter_name("prod").startswith(prefix)


def test_the_collector_assumes_only_its_reader_role_which_only_reads() -> None:
    (assume,) = _statement_for("collector", "sts:AssumeRole")
    assert _listed(assume["Resource"]) == [
        "arn:aws:iam::*:role/smartcloudops-${SCOPS_ENV}-collector-reader"
    ]
    collector_reads = _granted("collector") - {"sts:AssumeRole"}
    assert _granted(READER) == collector_reads
    trust = json.loads((IAM / "trust-collector-reader.json").read_text())["Statement"]
    assert [s["Principal"] for s in trust] == [
        {"AWS": "arn:aws:iam::${AWS_ACCOUNT_ID}:role/smartcloudops-${SCOPS_ENV}-collector"}
    ]


def test_the_remediator_assumes_only_its_actor_role_which_acts_only_on_opted_in_targets() -> None:
    from services.remediator.aws.session import ROLE_SESSION_NAME

    (assume,) = _statement_for("remediator", "sts:AssumeRole")
    assert _listed(assume["Resource"]) == [
        "arn:aws:iam::*:role/smartcloudops-${SCOPS_ENV}-remediator-actor"
    ]
    # In another account it acts and reads what it acts on; its parameters stay at home.
    home_only = {"sts:AssumeRole", "ssm:GetParameter", "kms:Decrypt"}
    assert _granted(ACTOR) == _granted("remediator") - home_only
    writes = ("ssm:SendCommand", "autoscaling:SetDesiredCapacity", "ec2:MonitorInstances")
    for action in writes:
        home = [s.get("Condition") for s in _statement_for("remediator", action)]
        there = [s.get("Condition") for s in _statement_for(ACTOR, action)]
        assert sorted(map(str, there)) == sorted(map(str, home)), action
    (document, _instances) = sorted(
        _statement_for(ACTOR, "ssm:SendCommand"), key=lambda s: "Condition" in s
    )
    assert _listed(document["Resource"]) == [f"arn:aws:ssm:*::document/{DOCUMENT}"]
    trust = json.loads((IAM / "trust-remediator-actor.json").read_text())["Statement"]
    assert [s["Principal"] for s in trust] == [
        {"AWS": "arn:aws:iam::${AWS_ACCOUNT_ID}:role/smartcloudops-${SCOPS_ENV}-remediator"}
    ]
    assert [s["Condition"] for s in trust] == [
        {"StringEquals": {"sts:RoleSessionName": ROLE_SESSION_NAME}}
    ]
