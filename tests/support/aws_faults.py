"""Faults at the outermost edge of AWS: a real HTTP proxy on loopback in front of the local AWS
server, which forwards every call unchanged except SSM ``SendCommand``, which it can

- ``stall``: forward (so the command is created) and then withhold the answer, so the client's
  read timeout fires: the caller cannot know the command exists;
- ``hang``: hold the request without forwarding it (nothing reaches AWS) until released, so a
  process calling it is provably between deciding to send and sending;
- ``refuse``: refuse it without forwarding: HTTP 400 ``InvalidInstanceId``;
- ``fail_once``: answer the first one HTTP 500 without forwarding it (nothing was created),
  forward the others.

and can slow down any other call by its operation name (``slow``), e.g. the Auto Scaling look-ups
made before an action is reserved, and can report every ``GetCommandInvocation`` as failed with
a given exit code and error output (``invocation_failure``), as an instance whose script
failed would. It counts the ``SendCommand`` requests that arrived, and
signals the first.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from scops.local_redis import free_port

SEND_COMMAND = "AmazonSSM.SendCommand"
GET_INVOCATION = "AmazonSSM.GetCommandInvocation"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
Mode = Literal["pass", "stall", "hang", "refuse", "fail_once"]


@dataclass
class AwsFaults:
    upstream: str
    mode: Mode = "pass"
    stall_s: float = 5.0
    url: str = ""
    slow: dict[str, float] = field(default_factory=dict)  # operation -> seconds added
    invocation_failure: tuple[int, str] | None = None  # exit code, error output
    sends_seen: int = 0
    sends_forwarded: int = 0
    first_send: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(faults: AwsFaults) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(faults.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(upstream.netloc, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Host"] = upstream.netloc
                connection.request(self.command, self.path, body=body, headers=headers)
                reply = connection.getresponse()
                return reply.status, reply.getheaders(), reply.read()
            finally:
                connection.close()

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _operation(self, body: bytes) -> str:
            target = self.headers.get("X-Amz-Target") or ""
            if target:
                return target.rsplit(".", 1)[-1]  # JSON protocols (SSM)
            action = parse_qs(body.decode(errors="replace")).get("Action", [""])
            return action[0]  # query protocols (EC2, Auto Scaling)

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            delay = faults.slow.get(self._operation(body), 0.0)
            if delay:
                time.sleep(delay)
            if self.headers.get("X-Amz-Target") == SEND_COMMAND:
                with faults.lock:
                    faults.sends_seen += 1
                    first = faults.sends_seen == 1
                faults.first_send.set()
                mode = faults.mode
                if mode == "hang":
                    faults.release.wait()
                    self.close_connection = True
                    return
                if mode == "refuse":
                    error = (
                        b'{"__type":"InvalidInstanceId","message":"Instances not in a valid '
                        b'state for account"}'
                    )
                    self._answer(400, [("Content-Type", "application/x-amz-json-1.1")], error)
                    return
                if mode == "fail_once" and first:
                    error = b'{"__type":"InternalServerError","message":"try again"}'
                    self._answer(500, [("Content-Type", "application/x-amz-json-1.1")], error)
                    return
                reply = self._forward(body)
                with faults.lock:
                    faults.sends_forwarded += 1
                if mode == "stall":
                    faults.release.wait(faults.stall_s)  # the client gives up first
                    self.close_connection = True
                    return
                self._answer(*reply)
                return
            status, headers, answer = self._forward(body)
            failure = faults.invocation_failure
            if self.headers.get("X-Amz-Target") == GET_INVOCATION and status == 200 and failure:
                reply_json = json.loads(answer)
                reply_json |= {
                    "Status": "Failed",
                    "StatusDetails": "Failed",
                    "ResponseCode": failure[0],
                    "StandardErrorContent": failure[1],
                }
                answer = json.dumps(reply_json).encode()
            self._answer(status, headers, answer)

        do_GET = _handle
        do_POST = _handle
        do_PUT = _handle
        do_DELETE = _handle

    return Handler


@contextmanager
def aws_faults(upstream: str, mode: Mode = "pass", stall_s: float = 5.0) -> Iterator[AwsFaults]:
    """The proxy on a free loopback port; ``faults.url`` is the endpoint to give the client."""
    faults = AwsFaults(upstream, mode, stall_s)
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(faults))
    server.daemon_threads = True
    faults.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=server.serve_forever, name="aws-faults", daemon=True)
    thread.start()
    try:
        yield faults
    finally:
        faults.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
