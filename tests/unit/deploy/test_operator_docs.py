"""The operator's documentation points at files and sections that exist, and the security
page's table of roles is the gateway's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.gateway.routes_proxy import ROUTES
from tests.support.observability_files import ROOT, anchors

DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "operator-guide.md",
    ROOT / "docs" / "troubleshooting.md",
    ROOT / "docs" / "security.md",
    ROOT / "deploy" / "aws" / "README.md",
    ROOT / "deploy" / "README.md",
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_lead_somewhere(doc: Path) -> None:
    text = doc.read_text()
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{doc.name}: {target}"
        if anchor:
            assert anchor in anchors(file.read_text()), f"{doc.name}: {target}"


def test_security_page_lists_every_proxied_endpoint_with_its_role() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z]+ [^`]+)` \| (\w+) \| (\w+) \|$", text, re.MULTILINE))
    expected = {(f"{r.method} {r.path}", r.service, r.role.value) for r in ROUTES}
    assert rows == expected
