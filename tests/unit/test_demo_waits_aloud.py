"""``make demo`` without a stack says at once what it waits for, then why it gave up."""

from __future__ import annotations

import pytest

from scops.demo import wait_ready
from scops.local_redis import free_port


def test_the_demo_says_what_it_waits_for_before_it_gives_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("SCOPS_GATEWAY_PORT", str(port))
    with pytest.raises(SystemExit) as ended:
        wait_ready(timeout=0.5)
    said = capsys.readouterr().out
    assert f"waiting up to 0 s for gateway at http://127.0.0.1:{port}" in said
    assert "`make up`" in said
    assert "gateway is not ready" in str(ended.value)
