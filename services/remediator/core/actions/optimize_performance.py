"""Run a script from the reviewed catalogue on the target instances (SSM Run Command).

``script`` names an entry of the script catalogue (``SCOPS_SCRIPT_CATALOGUE_PATH``,
deploy/config/script-catalogue.yaml); rules cannot supply commands of their own, nor fill the
script's name from the anomaly (its labels are the sender's to choose, and the rule's ``risk``
and ``approval`` were judged for the script it names). The risk is the
higher of this action's (medium) and the script's. Targets: instance ids or tags.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from services.remediator.core.actions.base import (
    ActionDefinition,
    ShellParams,
    ShellPlan,
    unfilled_template,
)
from services.remediator.core.actions.catalogue import ScriptCatalogue
from services.remediator.core.risk import Risk, highest
from services.remediator.core.targets import Target


class OptimizePerformanceParams(ShellParams):
    script: str = Field(
        description="A script name from the catalogue.", examples=["drop-page-cache"]
    )

    @field_validator("script")
    @classmethod
    def _in_catalogue(cls, value: str, info: ValidationInfo) -> str:
        if unfilled_template(info):
            raise ValueError(
                "a script is named in the rule, not filled from the anomaly: a placeholder "
                "would let whoever sends the alert choose which catalogue script runs"
            )
        catalogue = (info.context or {}).get("catalogue")
        if not isinstance(catalogue, ScriptCatalogue):
            raise ValueError(f"{value!r} cannot be checked: no script catalogue is loaded")
        if value not in catalogue.scripts:
            known = ", ".join(sorted(catalogue.scripts)) or "none"
            raise ValueError(f"{value!r} is not in the script catalogue (known: {known})")
        return value


def definition(catalogue: ScriptCatalogue) -> ActionDefinition:
    def shell(params: OptimizePerformanceParams) -> ShellPlan:
        script = catalogue.scripts[params.script]
        explicit = "timeout_s" in params.model_fields_set
        timeout = params.timeout_s if explicit else script.timeout_s
        return ShellPlan(
            tuple(script.commands),
            timeout,
            params.max_concurrency,
            params.max_errors,
            catalogue_script=True,
        )

    def describe(params: OptimizePerformanceParams, target: Target) -> str:
        script = catalogue.scripts.get(params.script)
        what = script.description if script else "missing from the catalogue"
        return f"run catalogue script {params.script} ({what}) on {target.describe()}"

    def risk_of(params: Any) -> Risk:
        script = catalogue.scripts.get(getattr(params, "script", ""))
        return highest([Risk.MEDIUM, script.risk if script else Risk.HIGH])

    return ActionDefinition(
        name="optimize_performance",
        doc=__doc__ or "",
        params_model=OptimizePerformanceParams,
        risk=Risk.MEDIUM,
        targets=frozenset({"instances", "tags"}),
        describe=describe,
        shell=shell,
        extra={"catalogue": catalogue},
        risk_of=risk_of,
    )
