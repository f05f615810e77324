"""One POST of a message to a webhook, and what its answer means for the next step.

Slack's incoming webhooks answer 200 ``ok``; 400 for a payload they refuse (not worth
retrying); 403, 404 or 410 when the webhook was revoked or its channel archived (read the URL
again: it may have been rotated); 429 with ``Retry-After``; 5xx when they are in trouble.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from services.notifier.delivery.redaction import scrub

URL_GONE = frozenset({403, 404, 410})
THROTTLED = "rate_limited"  # 429: wait, then send again
DETAIL_MAX = 300
SCRUB_WINDOW = 4 * DETAIL_MAX  # scrubbed before the cut, so no piece survives at the edge


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status: int | None = None
    reason: str | None = None  # a notifications_failed_total label
    detail: str = ""  # never holds the URL or any piece of it (``redaction``)
    retryable: bool = False
    retry_after_s: float | None = None

    @property
    def url_gone(self) -> bool:
        return self.reason == "url_rejected"


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, from either of its forms (seconds, or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)


def answer_excerpt(body: str, url: str) -> str:
    """The start of a receiver's answer, fit to store and log: whitespace folded, every piece
    of the URL and every Slack-secret shape removed, then cut to ``DETAIL_MAX``."""
    text = " ".join(body[: 2 * SCRUB_WINDOW].split())[:SCRUB_WINDOW]
    return scrub(text, [url])[:DETAIL_MAX]


async def post_json(
    client: httpx.AsyncClient, url: SecretStr, payload: dict[str, Any]
) -> PostResult:
    plain = url.get_secret_value()
    try:
        response = await client.post(plain, json=payload)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return PostResult(
            False, None, "url_rejected", f"invalid webhook URL ({type(exc).__name__})"
        )
    except httpx.TimeoutException as exc:
        return PostResult(False, None, "transport_error", f"timed out ({type(exc).__name__})", True)
    except httpx.TransportError as exc:
        return PostResult(
            False, None, "transport_error", f"transport error: {type(exc).__name__}", True
        )
    status = response.status_code
    if status < 300:
        return PostResult(True, status)
    detail = f"receiver answered {status}: {answer_excerpt(response.text, plain)}"
    if status == 429:
        wait = retry_after(response.headers.get("retry-after"))
        return PostResult(False, status, THROTTLED, detail, True, wait)
    if status >= 500:
        return PostResult(
            False,
            status,
            "server_error",
            detail,
            True,
            retry_after(response.headers.get("retry-after")),
        )
    if status in URL_GONE:
        return PostResult(False, status, "url_rejected", detail, False)
    return PostResult(False, status, "client_error", detail, False)
