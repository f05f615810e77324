"""Restart a systemd service on the target instances (SSM Run Command).

Runs ``systemctl restart <unit>``, waits ``verify_s`` seconds and checks
``systemctl is-active <unit>``: the command fails, and the record says so, when the service
does not come back. An instance without the unit is not touched: the script exits
``NOT_ON_TARGET_EXIT`` before the restart, and that failure does not count toward the circuit
breaker (the unit's name may come from an alert's labels). Targets: instance ids or instance
tags. Risk: medium.

Only ``.service`` units are restarted (a bare name such as ``nginx`` means ``nginx.service``);
never another unit type (``poweroff.target``, ``dbus.socket`` ...) nor the units that keep the
machine reachable and managed (``systemd-*``, ``ssh*``, ``dbus*``, the SSM agent ...). When the
script catalogue lists ``restartable_units``, only units matching one of them.
"""

from __future__ import annotations

import shlex

from pydantic import Field, ValidationInfo, field_validator

from services.remediator.core.actions.base import (
    NOT_ON_TARGET_EXIT,
    ActionDefinition,
    ShellParams,
    ShellPlan,
    unfilled_template,
)
from services.remediator.core.actions.catalogue import ScriptCatalogue
from services.remediator.core.actions.restartable_units import check_restartable, full_name
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target

UNITS = "restartable_units"  # validation context: the configured globs, or None


class RestartServiceParams(ShellParams):
    service: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9@._:\-]{0,127}$",
        description="A systemd .service unit (a bare name means <name>.service).",
        examples=["nginx"],
    )
    verify_s: int = Field(5, ge=0, le=120, description="Wait before checking the unit is active.")

    @field_validator("service")
    @classmethod
    def _restartable(cls, value: str, info: ValidationInfo) -> str:
        if not unfilled_template(info):
            check_restartable(value, (info.context or {}).get(UNITS))
        return value


def shell(params: RestartServiceParams) -> ShellPlan:
    unit = shlex.quote(full_name(params.service))
    missing = f"{unit} is not on this instance: not restarted"
    commands = [
        "set -eu",
        f'if [ "$(systemctl show --property=LoadState --value -- {unit})" = not-found ]; then'
        f" echo {shlex.quote(missing)} >&2; exit {NOT_ON_TARGET_EXIT}; fi",
        f"systemctl restart {unit}",
        f"sleep {params.verify_s}" if params.verify_s else "true",
        f"systemctl is-active {unit}",
    ]
    return ShellPlan(tuple(commands), params.timeout_s, params.max_concurrency, params.max_errors)


def describe(params: RestartServiceParams, target: Target) -> str:
    return f"restart {params.service} on {target.describe()}"


def definition(catalogue: ScriptCatalogue) -> ActionDefinition:
    return ActionDefinition(
        name="restart_service",
        doc=__doc__ or "",
        params_model=RestartServiceParams,
        risk=Risk.MEDIUM,
        targets=frozenset({"instances", "tags"}),
        describe=describe,
        shell=shell,
        extra={UNITS: catalogue.restartable_units},
    )
