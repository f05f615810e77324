"""Which AWS accounts and regions the remediator may act in: the role map is checked when the
settings load, and an account or region taken from labels is allowed only when configured."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.remediator.config import RemediatorSettings
from services.remediator.core.accounts import HOME, AccountRefused, AccountRoles, AwsPlace

WATCHED = "111122223333"
OWN = "999988887777"
ROLE = f"arn:aws:iam::{WATCHED}:role/smartcloudops-prod-remediator-actor"


@pytest.mark.parametrize(
    "roles",
    [
        {"11112222333": ROLE},  # 11 digits
        {f"{WATCHED}\n": ROLE},
        {WATCHED: "arn:aws:iam::444455556666:role/smartcloudops-prod-remediator-actor"},
        {WATCHED: f"arn:aws:iam::{WATCHED}:user/ana"},
        {WATCHED: f"arn:aws-eu:iam::{WATCHED}:role/x"},
        {WATCHED: f"{ROLE}\n"},
    ],
)
def test_a_role_map_that_is_not_roles_in_their_own_accounts_is_refused_at_start(
    roles: dict[str, str],
) -> None:
    with pytest.raises(ValidationError):
        RemediatorSettings(aws_account_roles=roles)


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_roles_of_every_partition_are_accepted(partition: str) -> None:
    arn = f"arn:{partition}:iam::{WATCHED}:role/path/actor"
    assert RemediatorSettings(aws_account_roles={WATCHED: arn}).account_roles.roles == {
        WATCHED: arn
    }


def test_the_role_map_is_read_from_json_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCOPS_AWS_ACCOUNT_ROLES", f'{{"{WATCHED}": "{ROLE}"}}')
    monkeypatch.setenv("SCOPS_AWS_OWN_ACCOUNT", OWN)
    roles = RemediatorSettings().account_roles
    assert (roles.roles, roles.own_account) == ({WATCHED: ROLE}, OWN)


def test_labels_without_an_account_act_at_home_and_the_own_account_too() -> None:
    roles = AccountRoles({WATCHED: ROLE}, own_account=OWN)
    assert roles.place_of({}) == HOME
    assert roles.place_of({"aws_region": "eu-west-1"}) == AwsPlace(None, "eu-west-1")
    assert roles.place_of({"aws_account": OWN}) == HOME
    assert roles.place_of({"aws_account": WATCHED, "aws_region": "us-gov-west-1"}) == AwsPlace(
        WATCHED, "us-gov-west-1"
    )


@pytest.mark.parametrize(
    ("labels", "check"),
    [
        ({"aws_account": "444455556666"}, "unknown_account"),
        ({"aws_account": OWN}, "unknown_account"),  # the own account was not configured here
        ({"aws_account": "*"}, "unknown_account"),
        ({"aws_account": WATCHED, "aws_region": "eu-west-1\n"}, "bad_region"),
        ({"aws_account": WATCHED, "aws_region": "eu-west"}, "bad_region"),
        ({"aws_region": "../../etc"}, "bad_region"),
    ],
)
def test_an_account_nobody_mapped_or_a_malformed_region_is_refused(
    labels: dict[str, str], check: str
) -> None:
    with pytest.raises(AccountRefused) as refused:
        AccountRoles({WATCHED: ROLE}).place_of(labels)
    assert refused.value.check == check
