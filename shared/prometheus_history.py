"""Reading a series' history from Prometheus' HTTP API (``/api/v1/query_range``).

Prometheus refuses a range query that would return more than 11,000 points per series, so a
long range is fetched in consecutive chunks of at most that many steps, on one grid
(``start + k * step``), and each series' chunks are joined. Every series the query returns
becomes one :class:`HistorySeries`: its resource from the same label preference as the
remote_write receiver (``instance``, then ``pod``, then ``job``), its metric from ``__name__``
(a query that drops it, such as ``rate(...)``, needs a metric name given).

Redirects are not followed: the URL given is the server asked, nothing it points elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from typing import Any

import httpx

from shared.history_series import (
    FetchLimits,
    HistoryError,
    HistorySeries,
    check_http_url,
    points_between,
)
from shared.resource_labels import DEFAULT_RESOURCE_LABELS, resource_id_from_labels

MAX_POINTS_PER_QUERY = 11_000  # Prometheus' own limit per series and query
UNLABELLED = "unlabelled"
DEFAULT_LIMITS = FetchLimits()


def chunks(
    start: float, end: float, step: float, per_query: int = MAX_POINTS_PER_QUERY
) -> list[tuple[float, float]]:
    """Consecutive (start, end) ranges on the grid ``start + k * step`` covering [start, end],
    each holding at most ``per_query`` points."""
    if step <= 0 or not math.isfinite(step):
        raise HistoryError(f"step {step!r}: must be a positive number of seconds")
    if end < start:
        raise HistoryError("the end of the range is before its start")
    total = points_between(start, end, step)
    ranges = []
    for first in range(0, total, per_query):
        last = min(first + per_query, total) - 1
        ranges.append((start + first * step, start + last * step))
    return ranges


async def fetch_prometheus(
    url: str,
    query: str,
    start: float,
    end: float,
    step: float,
    *,
    limits: FetchLimits = DEFAULT_LIMITS,
    metric: str | None = None,
    resource_labels: Sequence[str] = DEFAULT_RESOURCE_LABELS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[HistorySeries]:
    """Every series ``query`` returns between ``start`` and ``end`` (epoch seconds) every
    ``step`` seconds; :class:`HistoryError` with the reason when that cannot be had whole."""
    base = check_http_url(url)
    if not query.strip():
        raise HistoryError("the PromQL query is empty")
    ranges = chunks(start, end, step)
    if points_between(start, end, step) > limits.max_points:
        raise HistoryError(
            f"{points_between(start, end, step):,} points per series is more than the "
            f"{limits.max_points:,} allowed; shorten the range or raise the step"
        )
    try:
        async with asyncio.timeout(limits.deadline_s):
            async with httpx.AsyncClient(
                timeout=limits.request_timeout_s, follow_redirects=False, transport=transport
            ) as client:
                return await _fetch_all(
                    client, base, query, ranges, step, limits, metric, resource_labels
                )
    except TimeoutError as exc:
        raise HistoryError(f"{base}: no complete answer within {limits.deadline_s:g} s") from exc


async def _fetch_all(
    client: httpx.AsyncClient,
    base: str,
    query: str,
    ranges: list[tuple[float, float]],
    step: float,
    limits: FetchLimits,
    metric: str | None,
    resource_labels: Sequence[str],
) -> list[HistorySeries]:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    kept = 0
    for first, last in ranges:
        form = {"query": query, "start": f"{first:.3f}", "end": f"{last:.3f}", "step": f"{step:g}"}
        for labels, values in await _query_range(client, base, form, limits):
            points = series.setdefault(tuple(sorted(labels.items())), [])
            for pair in values:
                points.append(_point(base, pair))
            kept += len(values)
            if kept > limits.max_points:
                raise HistoryError(
                    f"{base}: the query returns more than {limits.max_points:,} points in all; "
                    "narrow it (fewer series), shorten the range or raise the step"
                )
    return [_series(dict(key), points, metric, resource_labels) for key, points in series.items()]


async def _query_range(
    client: httpx.AsyncClient, base: str, form: dict[str, str], limits: FetchLimits
) -> list[tuple[dict[str, str], list[Any]]]:
    endpoint = f"{base}/api/v1/query_range"
    try:
        async with client.stream("POST", endpoint, data=form) as response:
            if response.is_redirect:
                raise HistoryError(
                    f"{endpoint}: answered with a redirect (HTTP {response.status_code}); "
                    "redirects are not followed, give the final URL"
                )
            body = bytearray()
            async for piece in response.aiter_bytes():
                body += piece
                if len(body) > limits.max_response_bytes:
                    raise HistoryError(
                        f"{endpoint}: an answer larger than {limits.max_response_bytes:,} "
                        "bytes; narrow the query or raise the step"
                    )
            status = response.status_code
    except httpx.TimeoutException as exc:
        raise HistoryError(
            f"{endpoint}: no answer within {limits.request_timeout_s:g} s ({type(exc).__name__})"
        ) from exc
    except httpx.HTTPError as exc:
        raise HistoryError(f"{endpoint}: {type(exc).__name__}: {exc}") from exc
    # A large answer is parsed off the event loop.
    document = await asyncio.to_thread(_json_or_none, bytes(body))
    if not isinstance(document, dict):
        raise HistoryError(f"{endpoint}: HTTP {status}, not a Prometheus API answer")
    if document.get("status") != "success":
        kind, error = document.get("errorType", "error"), document.get("error", "")
        raise HistoryError(f"{endpoint}: Prometheus refused the query: {kind}: {error}"[:500])
    data = document.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise HistoryError(f"{endpoint}: expected a range (matrix) answer, got {kind!r}")
    result = data.get("result")
    if not isinstance(result, list):
        raise HistoryError(f"{endpoint}: the answer has no result list")
    out: list[tuple[dict[str, str], list[Any]]] = []
    for item in result:
        labels = item.get("metric") if isinstance(item, dict) else None
        values = item.get("values", []) if isinstance(item, dict) else None
        if not isinstance(labels, dict) or not isinstance(values, list):
            raise HistoryError(f"{endpoint}: a result without metric labels or values")
        out.append(({str(k): str(v) for k, v in labels.items()}, values))
    return out


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _point(base: str, pair: Any) -> tuple[float, float]:
    try:
        ts, text = pair
        return float(ts), float(text)  # Prometheus writes "NaN", "+Inf" and "-Inf" as text
    except (TypeError, ValueError) as exc:
        raise HistoryError(f"{base}: a sample that is not [time, value]: {pair!r:.60}") from exc


def _series(
    labels: dict[str, str],
    points: list[tuple[float, float]],
    metric: str | None,
    resource_labels: Sequence[str],
) -> HistorySeries:
    name = metric or labels.get("__name__") or "value"
    kept = {k: v for k, v in labels.items() if k != "__name__"}
    resource = resource_id_from_labels(kept, resource_labels) or UNLABELLED
    resource = "".join("_" if c.isspace() or ord(c) < 32 else c for c in resource)[:256]
    points.sort(key=lambda p: p[0])
    return HistorySeries(resource, name, kept, points)
