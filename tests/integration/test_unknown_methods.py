"""What a caller without a key can add to the gateway's /metrics.

``http_requests_total``, ``http_request_duration_seconds`` (histogram) and the size summaries
are labelled with the request's method and the handler it reached. The HTTP parser reads every
method llhttp knows (PROPFIND, MKCALENDAR, PURGE, M-SEARCH, ... some 34); a method no service
implements is a 501 problem before the metrics see it: each (method, handler) pair would
otherwise add a counter and a histogram of ~20 series (2,000 requests turned a 13 KB
exposition into ~1.6 MB, on every scrape after, on every replica)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import StackProcess, service, stack_env

# Methods llhttp (uvicorn's httptools parser) reads; no route of the product serves them.
UNSERVED = [
    "COPY",
    "LOCK",
    "MKCOL",
    "MOVE",
    "PROPFIND",
    "PROPPATCH",
    "SEARCH",
    "UNLOCK",
    "BIND",
    "REBIND",
    "UNBIND",
    "ACL",
    "REPORT",
    "MKACTIVITY",
    "CHECKOUT",
    "MERGE",
    "M-SEARCH",
    "NOTIFY",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PURGE",
    "MKCALENDAR",
    "LINK",
    "UNLINK",
    "SOURCE",
    "QUERY",
]


@pytest.fixture
def gateway(redis_url: str, tmp_path: Path) -> Iterator[StackProcess]:
    process = service("gateway", stack_env(redis_url), tmp_path).start().wait_ready()
    yield process
    process.stop()


def test_unserved_methods_without_a_key_do_not_multiply_the_metrics(
    gateway: StackProcess,
) -> None:
    before = httpx.get(f"{gateway.url}/metrics").text
    paths = sorted(httpx.get(f"{gateway.url}/openapi.json").json()["paths"])
    paths = [re.sub(r"\{[^}]+\}", "x", path) for path in paths]
    statuses = set()
    with httpx.Client(timeout=10) as client:  # no API key
        for path in paths:
            for method in UNSERVED:
                statuses.add(client.request(method, f"{gateway.url}{path}").status_code)
    after = httpx.get(f"{gateway.url}/metrics").text
    assert statuses == {501}  # implemented by no operation: refused before anything runs

    def methods(text: str) -> set[str]:
        return set(re.findall(r'^http_requests_total\{[^}]*method="([^"]+)"', text, re.M))

    series = len([line for line in after.splitlines() if line and not line.startswith("#")])
    observed = (
        f"{len(paths) * len(UNSERVED)} refused requests: /metrics {len(before):,} -> "
        f"{len(after):,} bytes, {series:,} samples, methods {sorted(methods(after))[:6]}..."
    )
    assert len(methods(after) - methods(before)) <= 1, observed
    assert len(after) < 4 * len(before), observed
