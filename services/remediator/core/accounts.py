"""Which AWS account and region an action acts in, and whether the remediator may act there.

An anomaly from another account carries the labels ``aws_account`` (the CloudWatch collector
sets it when it read the metric through an assumed role) and ``aws_region``. Labels can be
chosen by whoever may push metrics, so an account is acted in only when the operator mapped
it to a role (``SCOPS_AWS_ACCOUNT_ROLES``) or it is the remediator's own account
(``SCOPS_AWS_OWN_ACCOUNT``); any other is refused, never acted on with the remediator's own
credentials. A region must look like an AWS region (``eu-west-1``).

Pure: no AWS calls here (:mod:`.session` assumes the roles).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

ACCOUNT_LABEL = "aws_account"
REGION_LABEL = "aws_region"
ACCOUNT_PATTERN = r"^\d{12}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}\Z")
UNKNOWN_ACCOUNT = "unknown_account"
BAD_REGION = "bad_region"


class AccountRefused(Exception):
    """The request names an account (or region) the remediator may not act in."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(detail)
        self.check = check
        self.detail = detail


@dataclass(frozen=True)
class AwsPlace:
    """Where a request acts. ``account`` None: the remediator's own account (its own
    credentials); ``region`` None: ``SCOPS_AWS_REGION``."""

    account: str | None = None
    region: str | None = None

    def describe(self) -> str:
        return f"account {self.account or '(own)'}, region {self.region or '(default)'}"


HOME = AwsPlace()


def check_account_roles(roles: Mapping[str, str]) -> dict[str, str]:
    """The map account id -> role ARN, or ValueError naming the first bad entry."""
    for account, arn in roles.items():
        if not re.fullmatch(ACCOUNT_PATTERN, account):
            raise ValueError(f"account {account!r} is not a 12-digit AWS account id")
        match = ROLE_ARN.fullmatch(arn)
        if match is None:
            raise ValueError(
                f"role of account {account} is not an IAM role ARN "
                "(arn:aws:iam::<account>:role/<name>)"
            )
        if match.group(2) != account:
            raise ValueError(f"role {arn} is not in account {account}")
    return dict(roles)


@dataclass(frozen=True)
class AccountRoles:
    """The accounts the remediator may act in: its own, and each mapped to a role to assume."""

    roles: Mapping[str, str] = field(default_factory=dict)
    own_account: str | None = None

    def role_for(self, account: str | None) -> str | None:
        """The role to assume in ``account`` (None: the own credentials). Raises
        AccountRefused for an account nobody mapped."""
        if account is None or (account == self.own_account and account not in self.roles):
            return None
        role = self.roles.get(account)
        if role is None:
            raise AccountRefused(
                UNKNOWN_ACCOUNT,
                f"AWS account {account} is not in SCOPS_AWS_ACCOUNT_ROLES: refused rather "
                "than act there with the remediator's own credentials",
            )
        return role

    def place(self, account: str | None, region: str | None) -> AwsPlace:
        """The validated place (the own account becomes None). Raises AccountRefused."""
        if account is not None and not re.fullmatch(ACCOUNT_PATTERN, account):
            raise AccountRefused(UNKNOWN_ACCOUNT, f"{account!r} is not an AWS account id")
        if region is not None and not re.fullmatch(REGION_PATTERN, region):
            raise AccountRefused(BAD_REGION, f"{region!r} is not an AWS region")
        role = self.role_for(account)
        return AwsPlace(account if role is not None else None, region)

    def place_of(self, labels: Mapping[str, str]) -> AwsPlace:
        """Where an anomaly with these labels is acted on. Raises AccountRefused."""
        return self.place(labels.get(ACCOUNT_LABEL) or None, labels.get(REGION_LABEL) or None)
