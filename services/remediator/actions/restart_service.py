"""Restart a systemd service on the target instances (SSM Run Command).

Runs ``systemctl restart <service>``, waits ``verify_s`` seconds and checks
``systemctl is-active <service>``: the command fails, and the record says so, when the service
does not come back. Targets: instance ids or instance tags. Risk: medium.
"""

from __future__ import annotations

import shlex

from pydantic import Field

from services.remediator.actions.base import ActionDefinition, ShellParams, ShellPlan
from services.remediator.risk import Risk
from services.remediator.targets import Target


class RestartServiceParams(ShellParams):
    service: str = Field(
        pattern=r"^[A-Za-z0-9@._:\-]{1,128}$", description="systemd unit", examples=["nginx"]
    )
    verify_s: int = Field(5, ge=0, le=120, description="Wait before checking the unit is active.")


def shell(params: RestartServiceParams) -> ShellPlan:
    unit = shlex.quote(params.service)
    commands = [
        "set -eu",
        f"systemctl restart {unit}",
        f"sleep {params.verify_s}" if params.verify_s else "true",
        f"systemctl is-active {unit}",
    ]
    return ShellPlan(tuple(commands), params.timeout_s, params.max_concurrency, params.max_errors)


def describe(params: RestartServiceParams, target: Target) -> str:
    return f"restart {params.service} on {target.describe()}"


ACTION = ActionDefinition(
    name="restart_service",
    doc=__doc__ or "",
    params_model=RestartServiceParams,
    risk=Risk.MEDIUM,
    targets=frozenset({"instances", "tags"}),
    describe=describe,
    shell=shell,
)
