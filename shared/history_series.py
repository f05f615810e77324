"""History read back from a metrics store (Prometheus, CloudWatch): the series, the limits on
fetching it, and the one error every source raises.

Used by ``scops backtest`` to replay a user's history through the detector and by the
detector's ``POST /anomaly/train`` to learn from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class HistoryError(Exception):
    """History that cannot be fetched; the message says from where and why, in one line."""


@dataclass(frozen=True, slots=True)
class HistorySeries:
    """One series: which resource and metric it is, its labels, and its points in time order
    (epoch seconds, value; NaN marks a gap)."""

    resource_id: str
    metric: str
    labels: dict[str, str] = field(default_factory=dict)
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.resource_id}/{self.metric}"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds on one fetch: the points kept in all (every series together), the bytes of any
    one answer, each request's timeout, and the whole fetch's deadline."""

    max_points: int = 5_000_000
    max_response_bytes: int = 256 * 1024 * 1024
    request_timeout_s: float = 60.0
    deadline_s: float = 1800.0


def points_between(start: float, end: float, step: float) -> int:
    """How many points a grid from ``start`` to ``end`` (both included) every ``step`` holds."""
    return math.floor((end - start) / step) + 1


def shown_url(url: str) -> str:
    """``url`` as an error may quote it: whatever could be a user and password (up to the
    last ``@``) replaced by ``***``, even where the URL does not parse (a password with a
    ``/`` or ``#`` in it)."""
    if "@" in url:
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, rest = "", url
        url = f"{scheme}{sep}***@{rest.rpartition('@')[2]}"
    return repr(url[:200])


def check_http_url(url: str) -> str:
    """``url`` without a trailing slash, or :class:`HistoryError` unless it is http(s) with a
    host (no file:, no other scheme, no credentials in the URL)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number or out of range raises here)
    except ValueError as exc:
        raise HistoryError(f"{shown_url(url)}: not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HistoryError(f"{shown_url(url)}: not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise HistoryError(f"{parts.hostname}: credentials in the URL are not accepted")
    if parts.query or parts.fragment:
        raise HistoryError(f"{parts.hostname}: the URL must not carry a query or fragment")
    return url.rstrip("/")


def url_allowed(url: str, prefixes: list[str]) -> bool:
    """Whether ``url`` (already checked by :func:`check_http_url`) lies under one of
    ``prefixes``: same scheme and host (case-insensitive) and port, and a path under the
    prefix's path at a ``/`` boundary. A path with ``.`` or ``..`` segments, an empty segment
    or a percent sign is never allowed (it could climb out of the prefix on the server)."""
    parts = urlsplit(url)
    path = parts.path
    if "%" in path or "//" in path or any(s in (".", "..") for s in path.split("/")):
        return False
    for prefix in prefixes:
        allowed = urlsplit(prefix)
        same_origin = (parts.scheme, parts.hostname, parts.port) == (
            allowed.scheme,
            allowed.hostname,
            allowed.port,
        )
        if same_origin and (path.rstrip("/") + "/").startswith(allowed.path.rstrip("/") + "/"):
            return True
    return False
