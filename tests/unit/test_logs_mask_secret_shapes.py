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


def test_aws_and_http_client_libraries_stay_quiet_at_debug_in_every_process(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """botocore logs each request's Authorization header (the access key id) and each answer's
    body (an assumed role's secret key and session token) at DEBUG; whichever service runs,
    SCOPS_LOG_LEVEL=DEBUG shows none of it, while the service's own debug lines are kept."""
    configure_logging("remediator-worker", "DEBUG")
    logging.getLogger("botocore.endpoint").debug(
        "Sending http request: Authorization: AWS4-HMAC-SHA256 Credential=AKIASECRETKEYID12345/x"
    )
    logging.getLogger("botocore.parsers").debug(
        "Response body: <SecretAccessKey>MuoJHJZIa6MTuPx4DImk</SecretAccessKey>"
    )
    logging.getLogger("aiobotocore.endpoint").debug("AKIASECRETKEYID12345")
    logging.getLogger("urllib3.connectionpool").debug("AKIASECRETKEYID12345")
    structlog.get_logger("test.own").debug("own_debug_line")
    err = capsys.readouterr().err
    assert "own_debug_line" in err
    assert "AKIASECRET" not in err and "SecretAccessKey" not in err


def test_authorization_credentials_are_masked_in_any_log_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test", "INFO")
    logging.getLogger("plain").error("echoed: authorization: Basic YWxlcnRzOlpxOHNXdjNM==; ok")
    structlog.get_logger("test").error("echoed", header="Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")
    err = capsys.readouterr().err
    assert "YWxlcnRzOlpxOHNXdjNM" not in err and "eyJhbGciOiJIUzI1NiJ9" not in err
    assert "echoed: authorization: <redacted>; ok" in err
