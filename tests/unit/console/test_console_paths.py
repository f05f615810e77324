"""After signing in, the console only ever sends people back to one of its own pages."""

from __future__ import annotations

import pytest

from services.gateway.console.guard import safe_back_to


@pytest.mark.parametrize(
    "given",
    [
        None,
        "",
        "https://evil.example/console/",
        "//evil.example/console/",
        "/console",
        "/docs",
        "/console\\..\\evil",
        "javascript:alert(1)",
        "/console/../docs",  # a dot segment leaves the console
        "/console/..//evil.example",
        "/console/%2E%2E/docs",
        "/console/./../docs",
        "/console/incidents/..",
    ],
)
def test_anything_but_a_console_page_returns_to_the_overview(given: str | None) -> None:
    assert safe_back_to(given) == "/console/"


def test_a_console_page_with_dots_in_a_name_or_its_query_is_kept() -> None:
    assert safe_back_to("/console/series?resource_id=a/../b") == (
        "/console/series?resource_id=a/../b"
    )
    assert safe_back_to("/console/incidents/web-1..2") == "/console/incidents/web-1..2"


def test_a_console_page_with_its_query_is_kept() -> None:
    assert safe_back_to("/console/series?resource_id=web-1&metric=cpu") == (
        "/console/series?resource_id=web-1&metric=cpu"
    )
