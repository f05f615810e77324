"""Administration: rules (and their automatic shadow mode), maintenance windows, the circuit
breaker, the dry-run switch, and the log of who changed what."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from services.remediator.api.deps import INTERNAL, ActorDep, RemediatorDep
from services.remediator.core.durations import Duration
from services.remediator.errors import RulesFileError
from services.remediator.stores.maintenance import MaintenanceWindow
from shared.events import UtcDatetime, utcnow
from shared.identifiers import NamePattern, ShownText
from shared.schema_alternatives import exactly_one_of
from shared.web import problem, problem_responses

router = APIRouter(tags=["admin"])


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: ShownText = Field("internal", min_length=1, max_length=128, examples=["ana"])


class WindowIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra=exactly_one_of(("ends_at",), ("duration",))
    )
    target_pattern: NamePattern = Field(
        min_length=1,
        max_length=256,
        description="Glob (* and ?) over targets and resources.",
        examples=["web-*"],
    )
    starts_at: UtcDatetime | None = Field(None, description="Default: now.")
    ends_at: UtcDatetime | None = Field(
        None, description="After starts_at and after now (a window already over is refused)."
    )
    duration: Duration | None = Field(
        None, examples=["2h"], description="Instead of ends_at; must end after now."
    )
    reason: ShownText = Field("", max_length=500, examples=["kernel upgrade"])
    by: ShownText = Field(min_length=1, max_length=128, examples=["ana"])

    @model_validator(mode="after")
    def _an_end(self) -> WindowIn:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give ends_at or duration")
        return self


class DryRunIn(Actor):
    enabled: StrictBool | None = Field(description="null: back to SCOPS_DRY_RUN.", examples=[True])


@router.get("/rules", summary="The rules in force")
def rules(remediator: RemediatorDep) -> dict[str, Any]:
    loaded = remediator.rules.engine().loaded
    demoted = {d.rule: d.as_json() for d in remediator.auto_shadow.all()}
    listed = loaded.rules.model_dump(mode="json", by_alias=True)["rules"]
    for rule in listed:
        rule["auto_shadow"] = demoted.get(rule["name"])
        rule["effective_mode"] = "shadow" if rule["auto_shadow"] else rule["mode"]
    return {
        "version": loaded.version,
        "source": loaded.source,
        "loaded_at": loaded.loaded_at.isoformat(),
        "last_error": remediator.rules.last_error,
        "rules": listed,
        "policy": loaded.rules.policy.model_dump(mode="json"),
    }


@router.post(
    "/rules/reload",
    dependencies=INTERNAL,
    summary="Validate the rules file and put it in force (a bad file changes nothing)",
    responses=problem_responses(401, 422),
)
def reload_rules(remediator: RemediatorDep, body: Actor | None = None) -> dict[str, Any]:
    by = (body or Actor()).by
    admin = remediator.admin_log
    try:
        loaded = remediator.rules.load_and_publish()
    except RulesFileError as exc:
        admin.write("rules_refused", by, file=exc.file, error=str(exc)[:1000])
        raise
    admin.write("rules_reloaded", by, version=loaded.version, file=loaded.source)
    return {"version": loaded.version, "source": loaded.source, "rules": len(loaded.rules.rules)}


@router.post(
    "/rules/{rule}/auto-shadow/reset",
    dependencies=INTERNAL,
    summary="Put a rule switched to shadow mode automatically back to its mode in the file",
    response_model=dict[str, Any],
    responses=problem_responses(
        401, s404="No rule of that name is in the rules file or in automatic shadow mode"
    ),
)
def reset_auto_shadow(
    rule: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")],
    remediator: RemediatorDep,
    body: Actor | None = None,
) -> Any:
    by = (body or Actor()).by
    was_shadowed = remediator.auto_shadow.reset(rule)
    names = [r.name for r in remediator.rules.engine().loaded.rules.rules]
    if not was_shadowed and rule not in names:  # a misspelt name: nothing to say it was reset
        listed = ", ".join(names) or "none"
        return problem(404, "Not Found", f"no rule is called {rule} (the rules: {listed})")
    remediator.admin_log.write("auto_shadow_reset", by, rule=rule, was=str(was_shadowed).lower())
    return {"rule": rule, "was_shadowed": was_shadowed}


@router.get("/remediation/maintenance", tags=["maintenance"], summary="Maintenance windows")
def list_windows(remediator: RemediatorDep, include_past: bool = False) -> list[MaintenanceWindow]:
    return remediator.maintenance.current(include_past=include_past)


def _invalid(field: str, reason: str) -> JSONResponse:
    return problem(
        422,
        "Invalid request",
        f"{field}: {reason}",
        errors=[{"field": field, "pointer": f"/{field}", "reason": reason}],
    )


@router.post(
    "/remediation/maintenance",
    status_code=status.HTTP_201_CREATED,
    response_model=MaintenanceWindow,
    dependencies=INTERNAL,
    tags=["maintenance"],
    summary="Add a maintenance window: no action on matching targets while it lasts",
    responses=problem_responses(401, 422),
)
def add_window(body: WindowIn, remediator: RemediatorDep) -> MaintenanceWindow | JSONResponse:
    starts = body.starts_at or utcnow()
    try:
        ends = body.ends_at or starts + timedelta(seconds=body.duration or 0)
    except OverflowError:
        return _invalid("duration", "the window would end after year 9999")
    field = "ends_at" if body.ends_at is not None else "duration"
    if ends <= starts:
        return _invalid(field, "the window must end after it starts (starts_at, or now)")
    if ends <= utcnow():  # it would hold nothing, while whoever sent it believes it does
        return _invalid(field, "the window would be already over: it must end after now")
    try:
        window = remediator.maintenance.add(
            body.target_pattern, starts, ends, reason=body.reason, created_by=body.by
        )
    except ValueError as exc:
        return _invalid("target_pattern", str(exc))
    remediator.admin_log.write(
        "maintenance_added",
        body.by,
        window=window.id,
        pattern=window.target_pattern,
        until=window.ends_at.isoformat(),
    )
    return window


@router.delete(
    "/remediation/maintenance/{window_id}",
    dependencies=INTERNAL,
    tags=["maintenance"],
    summary="Remove a maintenance window",
    responses=problem_responses(401, 404),
)
def remove_window(window_id: str, remediator: RemediatorDep, by: ActorDep) -> MaintenanceWindow:
    window = remediator.maintenance.remove(window_id)
    remediator.admin_log.write("maintenance_removed", by, window=window.id)
    return window


@router.post(
    "/remediation/breaker/reset",
    dependencies=INTERNAL,
    summary="Close the circuit breaker (automatic actions resume)",
    responses=problem_responses(401),
)
def reset_breaker(remediator: RemediatorDep, body: Actor | None = None) -> dict[str, Any]:
    by = (body or Actor()).by
    was_open = remediator.safety.reset_breaker()
    remediator.admin_log.write("breaker_reset", by, was_open=str(was_open).lower())
    return {"was_open": was_open, "breaker": {"open": False}}


@router.put(
    "/remediation/dry-run",
    dependencies=INTERNAL,
    summary="Switch dry-run on or off for every worker",
    responses=problem_responses(401),
)
def set_dry_run(body: DryRunIn, remediator: RemediatorDep) -> dict[str, bool]:
    remediator.safety.set_dry_run(body.enabled)
    remediator.admin_log.write("dry_run_set", body.by, enabled=str(body.enabled).lower())
    return {"dry_run": remediator.safety.dry_run()}


@router.get("/remediation/admin-log", summary="Who changed rules, windows, breaker, dry-run")
def admin_log(
    remediator: RemediatorDep, count: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict[str, str]]:
    return remediator.admin_log.recent(count)
