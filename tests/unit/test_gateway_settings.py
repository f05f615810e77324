"""Gateway settings read from the environment as an operator writes them."""

from __future__ import annotations

import pytest

from services.gateway.config import GatewaySettings


@pytest.mark.parametrize(
    "value",
    [
        '["http://detector-0:8001", "http://detector-1:8001/"]',
        "http://detector-0:8001,http://detector-1:8001/",
        " http://detector-0:8001 , http://detector-1:8001 ",
    ],
    ids=["json", "comma-separated", "spaces"],
)
def test_detector_urls_are_a_json_list_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """The README offers both spellings; the comma-separated one stopped the gateway at start
    (the environment source read every list setting as JSON before the setting's own parser)."""
    monkeypatch.setenv("SCOPS_DETECTOR_URLS", value)
    assert GatewaySettings().detector_processes == [
        "http://detector-0:8001",
        "http://detector-1:8001",
    ]


def test_without_detector_urls_the_one_detector_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCOPS_DETECTOR_URLS", raising=False)
    monkeypatch.setenv("SCOPS_DETECTOR_URL", "http://detector:8001")
    assert GatewaySettings().detector_processes == ["http://detector:8001"]
