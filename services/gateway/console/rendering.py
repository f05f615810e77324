"""Pages as HTML responses, every one with the console's security headers.

No script runs in the console: the Content-Security-Policy allows none, styles only from the
console's own stylesheet, and no framing (clickjacking an Approve button is not possible).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from services.gateway.approval_subjects import target_text
from services.gateway.console.guard import ConsoleUser
from shared.events import ApprovalVote

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _when(value: Any) -> str:
    """An ISO 8601 time (or epoch seconds) as ``2026-12-06 00:12:03 UTC``."""
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else str(value or "")


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _ago(value: Any) -> str:
    moment = parse_time(value)
    if moment is None:
        return ""
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds // size} {unit}"
            break
    else:
        amount = f"{seconds} s"
    return f"in {amount}" if future else f"{amount} ago"


def _votes(value: Any) -> list[tuple[str, str]]:
    """A record's (or an approval's) votes as (decision, ``ana via Slack at ...``) pairs; what
    is not a vote is left out (records before 1.5 have none)."""
    said: list[tuple[str, str]] = []
    for raw in value if isinstance(value, list) else []:
        try:
            vote = ApprovalVote.model_validate(raw)
        except ValidationError:
            continue
        said.append((vote.decision, vote.described()))
    return said


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters["votes"] = _votes
    env.filters["target"] = target_text
    return env


ENVIRONMENT = _environment()


def secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: ConsoleUser | None = None,
    status: int = 200,
    flash: dict[str, str] | None = None,
) -> Response:
    html = ENVIRONMENT.get_template(template).render(
        {"request": request, "user": user, "flash": flash, "path": request.url.path, **context}
    )
    return secured(HTMLResponse(html, status_code=status))


def redirect(location: str) -> Response:
    """After a form: 303, so reloading the next page does not send the form again."""
    return secured(RedirectResponse(location, status_code=303))
