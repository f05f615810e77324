"""Nothing shaped like a Slack secret reaches a log line, even inside a logged traceback."""

from __future__ import annotations

import logging

import pytest
import structlog

from shared.logging import configure_logging

SECRET_PATH = "/services/T0123ABCD/B0456EFGH/zR8xK2mQ9vL4pN7wY1tS5uV3"


def test_a_traceback_carrying_a_webhook_url_is_logged_without_its_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test", "INFO")
    log = structlog.get_logger("test.secrets")
    try:
        raise RuntimeError(f"POST https://hooks.slack.com{SECRET_PATH} failed: 500")
    except RuntimeError:
        log.exception("delivery_crashed", token="xoxb-1234-abcd")
    logging.getLogger("plain").error("echo %s", SECRET_PATH)
    err = capsys.readouterr().err
    assert "delivery_crashed" in err and "Traceback" in err and "<redacted>" in err
    for fragment in ("zR8xK2mQ9vL4pN7wY1tS5uV3", "T0123ABCD", "xoxb-1234"):
        assert fragment not in err
