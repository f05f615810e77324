"""A command the gateway stopped waiting for may have been done: the remediator does not stop
working on a request when the gateway gives up on it (its preview's AWS look-ups may be slow),
so ChatOps says to check before asking again, never "nothing was done". A remediator that
cannot be reached took nothing, and that is what ChatOps says then."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from scops.local_redis import free_port
from services.gateway.api_keys import Role
from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.intents import ChatIntent
from services.gateway.chatops.parser import parse
from services.gateway.chatops.replies import Asker, Outcome
from services.gateway.proxy import Backends

TIMEOUT_S = 0.3  # the gateway's SCOPS_PROXY_TIMEOUT_S here


class SlowRemediator(http.server.BaseHTTPRequestHandler):
    """Takes the request, and answers only after the gateway stopped waiting."""

    taken: list[dict[str, object]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(TIMEOUT_S * 3)
        self.taken.append(body)  # queued: it will run
        answer = json.dumps({"status": "queued", "detail": "queued"}).encode()
        try:
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # the gateway hung up

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_remediator() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowRemediator)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class NoAnomalies:
    async def query(self, q: object) -> tuple[list[dict[str, object]], str | None]:
        return [], None


def _ask(remediator_url: str, text: str) -> tuple[Outcome, str]:
    async def ask() -> tuple[Outcome, str]:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            engine = ChatEngine(
                Backends(client, {"remediator": remediator_url}, "token"), NoAnomalies()
            )
            intent = parse(text)
            assert isinstance(intent, ChatIntent)
            asker = Asker(user="key:k1", who="olga (key k1)", role=Role.OPERATOR)
            answer = await engine.answer(asker, intent, text, "cid-1")
            return answer.outcome, answer.text

    return asyncio.run(ask())


def test_a_command_the_gateway_stopped_waiting_for_may_have_been_done(
    slow_remediator: str,
) -> None:
    outcome, text = _ask(slow_remediator, "scale in web-asg by 1 because idle")
    deadline = time.monotonic() + 5
    while not SlowRemediator.taken and time.monotonic() < deadline:
        time.sleep(0.05)
    assert SlowRemediator.taken, "the remediator took the request"
    assert outcome is Outcome.UNAVAILABLE
    assert "the remediator did not answer in time" in text
    assert "Nothing was done" not in text
    assert "may have been done" in text and "what happened to" in text


def test_a_command_no_remediator_took_was_not_done() -> None:
    outcome, text = _ask(f"http://127.0.0.1:{free_port()}", "scale in web-asg by 1")
    assert outcome is Outcome.UNAVAILABLE
    assert "the remediator cannot be reached" in text and "Nothing was done" in text
