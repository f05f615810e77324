"""`scops demo` ends with what became of its message: delivered to Slack (or a webhook), kept
in the local outbox, or failed; and it points at the logs of the stack's own run directory."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from scops import cli
from scops.demo import closing_line, no_notification_line
from shared.events import Notification, NotificationStatus

OUTBOX = "http://127.0.0.1:8003/notifications/outbox"


def notification(
    channel: str, status: NotificationStatus, error: str | None = None
) -> Notification:
    return Notification(
        correlation_id="c-1",
        source_event_id=uuid.uuid4(),
        kind="alert",
        channel=channel,
        status=status,
        text="CRITICAL: cpu_utilization on web-1",
        attempts=3 if error else 1,
        error=error,
        receiver="slack",
    )


def test_a_message_delivered_to_slack_does_not_send_to_the_outbox() -> None:
    line = closing_line(notification("slack", NotificationStatus.DELIVERED), OUTBOX, Path("x"))
    assert "delivered via slack" in line
    assert "outbox" not in line.lower()
    assert "not configured" not in line


def test_a_message_kept_in_the_outbox_says_where() -> None:
    line = closing_line(notification("outbox", NotificationStatus.OUTBOX), OUTBOX, Path("x"))
    assert OUTBOX in line


def test_a_failed_delivery_says_so_and_points_at_the_run_dirs_logs() -> None:
    failed = notification("slack", NotificationStatus.FAILED, error="HTTP 403")
    line = closing_line(failed, OUTBOX, Path("/tmp/stack/logs"))
    assert "failed" in line and "HTTP 403" in line
    assert "/tmp/stack/logs/" in line
    assert "outbox" not in line.lower()


def test_no_notification_points_at_the_given_log_dir() -> None:
    line = no_notification_line(5, Path("/tmp/stack/logs"))
    assert "/tmp/stack/logs/" in line
    assert ".run/logs" not in line


def test_demo_passes_its_run_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[float, Path]] = []

    def fake_run_demo(timeout: float, run_dir: Path) -> int:
        seen.append((timeout, run_dir))
        return 0

    monkeypatch.setattr("scops.demo.run_demo", fake_run_demo)
    assert cli.main(["demo", "--timeout", "5", "--run-dir", "/tmp/stack"]) == 0
    assert cli.main(["demo"]) == 0
    assert seen == [(5.0, Path("/tmp/stack")), (180.0, Path(".run"))]
