"""The console's cookies are Secure when the browser came over TLS, also when TLS ended at an
ingress on another host (uvicorn believes X-Forwarded-Proto from loopback only)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from services.gateway.console.routes_signin import _over_tls


def _request(headers: dict[str, str], scheme: str = "http", public: str | None = None) -> Request:
    settings = SimpleNamespace(console_public_url=public)
    app = SimpleNamespace(state=SimpleNamespace(gateway=SimpleNamespace(settings=settings)))
    scope = {
        "type": "http",
        "scheme": scheme,
        "method": "GET",
        "path": "/console/sign-in",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("10.0.4.7", 51234),  # an ingress, not loopback
        "server": ("10.0.4.20", 8000),
        "app": app,
    }
    return Request(scope)


@pytest.mark.parametrize("proto", ["https", "HTTPS", "https, http"])
def test_an_ingress_saying_https_makes_the_cookies_secure(proto: str) -> None:
    assert _over_tls(_request({"X-Forwarded-Proto": proto}))


def test_plain_http_without_a_word_of_tls_is_not_secure() -> None:
    assert not _over_tls(_request({}))
    assert not _over_tls(_request({"X-Forwarded-Proto": "http"}))


def test_tls_seen_directly_or_a_public_https_address_is_secure() -> None:
    assert _over_tls(_request({}, scheme="https"))
    assert _over_tls(_request({}, public="https://ops.example.com/console/"))
