"""A webhook receiver whose URL carries basic-auth credentials (http://user:password@host/...)
and that, like a careless receiver or proxy, repeats the request's headers in its error answer:
the Authorization header is base64("user:password"). It must not reach GET /notifications, the
dead letters, the notifications stream or the log."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from pathlib import Path

import httpx
import redis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from scops.local_redis import free_port
from shared.bus import encode_event
from shared.events import RemediationStatus
from shared.streams import NOTIFICATIONS, REMEDIATIONS
from tests.support.notifier_events import record
from tests.support.processes import service, stack_env

PASSWORD = "Zq8sWv3Lk2PnR7tYb9Xc4Md1"


class HeaderEchoingReceiver:
    def __init__(self) -> None:
        self.port = free_port()

    async def hook(self, request: Request) -> PlainTextResponse:
        headers = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        return PlainTextResponse(f"unauthorized; request headers: {headers}", 401)

    def start(self) -> HeaderEchoingReceiver:
        app = Starlette(routes=[Route("/{rest:path}", self.hook, methods=["POST"])])
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()))
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_basic_auth_credentials_echoed_by_a_receiver_are_not_kept(
    redis_url: str, log_dir: Path
) -> None:
    receiver = HeaderEchoingReceiver().start()
    url = f"http://alerts:{PASSWORD}@127.0.0.1:{receiver.port}/hook"
    encoded = base64.b64encode(f"alerts:{PASSWORD}".encode()).decode()
    env = stack_env(
        redis_url,
        {
            "SCOPS_NOTIFY_RECEIVERS": json.dumps(
                [{"name": "pager", "type": "webhook", "url": url}]
            ),
            "SCOPS_NOTIFY_ROUTES": json.dumps([{"receivers": ["pager"]}]),
            "SCOPS_DELIVERY_ATTEMPTS": "1",
            "SCOPS_GROUP_WAIT_S": "0.2",
        },
    )
    client = redis.Redis.from_url(redis_url)
    notifier = service("notifier", env, log_dir).start()
    try:
        notifier.wait_ready()
        failed = record(status=RemediationStatus.FAILED, exit_code=1, output_excerpt="boom")
        client.xadd(REMEDIATIONS, encode_event(failed))
        base = notifier.url
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/notifications/dead-letter").json()["size"] < 1:
            assert time.monotonic() < deadline, notifier.log_tail()
            time.sleep(0.1)
        found = {
            "GET /notifications": httpx.get(f"{base}/notifications").text,
            "GET /notifications/dead-letter": httpx.get(f"{base}/notifications/dead-letter").text,
            "notifications stream": repr(client.xrange(NOTIFICATIONS)),
            "notifier log": notifier.log_text(),
        }
    finally:
        notifier.stop()
        receiver.stop()
        client.close()
    leaked = {where: text for where, text in found.items() if encoded in text}
    for where, text in leaked.items():
        i = text.index(encoded)
        print(f"{where}: ...{text[max(0, i - 120) : i + 60]}...")
    assert not leaked, sorted(leaked)
