"""A Slack button click is kept on the clicks stream before Slack gets its answer (200), and
applied from there: Slack does not send a click again, and a gateway SIGKILLed after answering,
its call to the remediator not yet answered, left nothing to finish it (the approval never
decided, the message never updated). Now the restarted gateway (or another) takes the click
over once it has been idle for the claim time, asks the remediator, and updates the message.

Processes: a real gateway, Slack's stand-in for the response URL, and a remediator stand-in.
The first gateway's remediator is a socket that takes connections and never reads them (the
remediator has not taken the decision yet when the gateway dies); the restarted gateway's
remediator records every call it gets."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scops.local_redis import ensure_redis, free_port
from tests.support.processes import service, stack_env
from tests.support.slack_clicks import click_approval
from tests.support.slack_standin import SlackStandIn

SECRET = "slack-signing-secret-for-tests"
OPERATOR = "U0OPERATOR"


class Recorder(ThreadingHTTPServer):
    def __init__(self, port: int) -> None:
        self.calls: list[tuple[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.calls.append((self.command, self.path))
                body = json.dumps({"complete": True, "detail": "approved", "approval": {}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            do_GET = do_POST = _answer

            def log_message(self, *_a: object) -> None:
                pass

        super().__init__(("127.0.0.1", port), Handler)


def approved(recorder: Recorder) -> list[tuple[str, str]]:
    return [c for c in recorder.calls if c[1].endswith("/approve")]


@pytest.fixture
def black_hole() -> Iterator[socket.socket]:
    """A listening socket that takes TCP connections (the kernel's backlog) and never reads
    them: readable once a connection waits."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


@pytest.fixture
def own_redis() -> Iterator[str]:
    """A Redis of this test's own: a gateway of another test still running on the suite's
    Redis would share the clicks' consumer group and could take the click first."""
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    yield handle.url
    handle.stop()


def test_an_approve_click_acknowledged_then_the_gateway_killed_is_still_applied(
    own_redis: str, slack: SlackStandIn, log_dir: Path, black_hole: socket.socket
) -> None:
    settings = {
        "SCOPS_SLACK_SIGNING_SECRET": SECRET,
        "SCOPS_SLACK_USER_ROLES": f'{{"{OPERATOR}": "operator"}}',
        "SCOPS_SLACK_TEAM_IDS": '["T0TEAM"]',
        "SCOPS_SLACK_RESPONSE_URL_PREFIX": f"http://127.0.0.1:{slack.port}/services/",
    }
    env = stack_env(own_redis, settings)
    env["SCOPS_REMEDIATOR_URL"] = f"http://127.0.0.1:{black_hole.getsockname()[1]}"
    env["SCOPS_PROXY_TIMEOUT_S"] = "120"  # the first gateway waits until it is killed
    approval_id = uuid.uuid4().hex
    first = service("gateway", env, log_dir).start().wait_ready()
    try:
        with pytest.raises(AssertionError, match="told Slack nothing"):
            click_approval(  # Slack gets its 200 ...
                first.url,
                slack,
                SECRET,
                decision="approve",
                approval_id=approval_id,
                user_id=OPERATOR,
                display="ops-person",
                team="T0TEAM",
                resource_id="web-1",
                timeout=1.5,  # ... and the click's work is on its way to the remediator
            )
        # Killed once its call to the remediator is provably on the way, not answered.
        waiting, _, _ = select.select([black_hole], [], [], 30)
        assert waiting, "the first gateway never called the remediator"
        first.kill()
    finally:
        first.kill()

    port = free_port()
    recorder = Recorder(port)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    env = {**env, "SCOPS_REMEDIATOR_URL": f"http://127.0.0.1:{port}"}
    second = service("gateway", env, log_dir).start().wait_ready()
    try:
        deadline = time.monotonic() + 60  # the claim time (2 s here) and a loaded machine
        while time.monotonic() < deadline and not (slack.received and approved(recorder)):
            time.sleep(0.1)
    finally:
        second.stop()
        recorder.shutdown()
        recorder.server_close()
    assert [path for _, path in approved(recorder)] == [
        f"/remediation/approvals/{approval_id}/approve"
    ]
    assert slack.received  # the message told what became of the click
