"""The one place domain errors become HTTP problems (RFC 9457)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.remediator.errors import (
    AnotherApproverNeededError,
    ApprovalAlreadyExpiredError,
    ApprovalConflictError,
    ApprovalExpiredError,
    ApprovalNotFoundError,
    MaintenanceWindowNotFoundError,
    RequestRefusedError,
    RulesFileError,
    UnknownActionError,
)
from shared.web import problem

TYPE = "https://smartcloudops.dev/problems/"


def _rules(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RulesFileError)
    return problem(
        422,
        "Rules file refused",
        f"{exc}; the rules in force stay in force",
        type_=TYPE + "rules-file",
        errors=[
            {"field": p.path or "file", "line": str(p.line or ""), "reason": p.reason}
            for p in exc.problems
        ],
        file=exc.file,
    )


def _unknown_action(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnknownActionError)
    return problem(
        422,
        "Unknown action",
        f"{exc} (the refusal is recorded)",
        type_=TYPE + "unknown-action",
        errors=[
            {
                "field": "action",
                "pointer": "/action",
                "reason": f"not a registered action; known: {', '.join(exc.known)}",
            }
        ],
        known_actions=exc.known,
    )


def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestRefusedError)
    return problem(
        403,
        "Refused by a safety rule",
        f"{exc.reason} (the refusal is recorded)",
        type_=TYPE + "refused",
        blocked_by=exc.rule,
    )


def _approval_missing(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApprovalNotFoundError)
    return problem(404, "Not found", exc.reason, approval_id=exc.approval_id)


def _approval_conflict(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApprovalConflictError)
    if isinstance(exc, AnotherApproverNeededError):
        return problem(
            409,
            "Another person must approve",
            exc.reason,
            type_=TYPE + "another-approver-needed",
            approval_id=exc.approval_id,
        )
    return problem(
        409, "Conflict", exc.reason, type_=TYPE + "approval-decided", approval_id=exc.approval_id
    )


def _approval_expired(_request: Request, exc: Exception) -> JSONResponse:
    """Gone (410) whether this decision found it expired (and recorded the expiry) or the
    sweep had recorded it already."""
    assert isinstance(exc, ApprovalExpiredError | ApprovalAlreadyExpiredError)
    recorded = " (the expiry is recorded)" if isinstance(exc, ApprovalExpiredError) else ""
    return problem(
        410,
        "Approval expired",
        f"{exc.reason}; nothing was done{recorded}",
        type_=TYPE + "approval-expired",
        approval_id=exc.approval_id,
    )


def _window_missing(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MaintenanceWindowNotFoundError)
    return problem(404, "Not found", str(exc), window_id=exc.window_id)


def add_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RulesFileError, _rules)
    app.add_exception_handler(UnknownActionError, _unknown_action)
    app.add_exception_handler(RequestRefusedError, _refused)
    app.add_exception_handler(ApprovalNotFoundError, _approval_missing)
    app.add_exception_handler(ApprovalConflictError, _approval_conflict)
    app.add_exception_handler(ApprovalExpiredError, _approval_expired)
    app.add_exception_handler(ApprovalAlreadyExpiredError, _approval_expired)
    app.add_exception_handler(MaintenanceWindowNotFoundError, _window_missing)
