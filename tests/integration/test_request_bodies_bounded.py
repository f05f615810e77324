"""Every service bounds what a request body may cost before anything reads it: a body over
``SCOPS_MAX_BODY_BYTES`` is a 413 problem (also from a caller without the internal token, who
could otherwise make a service hold gigabytes), and a body that stops arriving is a 408
problem after ``SCOPS_BODY_READ_TIMEOUT_S`` instead of holding its request open for good."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env

LIMIT = 64 * 1024
READ_TIMEOUT_S = 1.0
# A mutating endpoint of each service that takes a JSON body (the internal token is not sent).
BODY_ROUTES = {
    "gateway": "/chatops/query",
    "detector": "/anomaly",
    "remediator": "/remediation/evaluate",
    "notifier": "/notifications/silences",
}


@pytest.fixture(scope="module")
def stack(
    module_redis: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, StackProcess]]:
    env = stack_env(
        module_redis,
        {
            "SCOPS_MAX_BODY_BYTES": str(LIMIT),
            "SCOPS_BODY_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
        },
    )
    logs = tmp_path_factory.mktemp("bounded-bodies-logs")
    processes = {name: service(name, env, logs).start() for name in BODY_ROUTES}
    try:
        for process in processes.values():
            process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


def _exchange(process: StackProcess, head: bytes, body_parts: list[bytes], wait_s: float) -> bytes:
    assert process.url is not None
    port = int(process.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(wait_s)
        sock.sendall(head)
        try:
            for part in body_parts:
                sock.sendall(part)
        except OSError:
            pass  # the service answered and closed before the whole body was sent
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not _complete(answer):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except TimeoutError:
            pass
    return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def _problem(answer: bytes, status: int) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:400]
    assert b"content-type: application/problem+json" in head.lower(), head
    problem: dict[str, object] = json.loads(body)
    assert problem["status"] == status
    return problem


def _head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


@pytest.mark.parametrize("name", sorted(BODY_ROUTES))
def test_a_body_declared_over_the_limit_is_refused_unread(
    stack: dict[str, StackProcess], name: str
) -> None:
    size = 50 * LIMIT
    head = _head(BODY_ROUTES[name], f"Content-Length: {size}\r\n")
    answer = _exchange(stack[name], head, [b" " * (size // 50)] * 50, wait_s=10)
    problem = _problem(answer, 413)
    assert "body" in str(problem["detail"])
    stack[name].assert_alive()


@pytest.mark.parametrize("name", sorted(BODY_ROUTES))
def test_a_chunked_body_growing_past_the_limit_is_refused(
    stack: dict[str, StackProcess], name: str
) -> None:
    chunk = b" " * 16384
    parts = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * (50 * LIMIT // len(chunk))
    head = _head(BODY_ROUTES[name], "Transfer-Encoding: chunked\r\n")
    answer = _exchange(stack[name], head, [*parts, b"0\r\n\r\n"], wait_s=10)
    _problem(answer, 413)
    stack[name].assert_alive()


@pytest.mark.parametrize("name", sorted(BODY_ROUTES))
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_body_that_stops_arriving_is_answered_408_in_time(
    stack: dict[str, StackProcess], name: str, framing: str, module_redis: str
) -> None:
    key = api_key(module_redis, "admin") if name == "gateway" else ""
    extra = f"X-API-Key: {key}\r\n" if key else ""
    if framing == "length":
        head = _head(BODY_ROUTES[name], f"{extra}Content-Length: 100\r\n")
        parts = [b'{"query": "sta']
    else:
        head = _head(BODY_ROUTES[name], f"{extra}Transfer-Encoding: chunked\r\n")
        parts = [b'5\r\n{"que\r\n']
    started = time.monotonic()
    answer = _exchange(stack[name], head, parts, wait_s=READ_TIMEOUT_S + 10)
    elapsed = time.monotonic() - started
    problem = _problem(answer, 408)
    assert "body" in str(problem["detail"])
    assert elapsed < READ_TIMEOUT_S + 5, elapsed
    stack[name].assert_alive()


def test_a_body_that_arrives_in_time_is_read_whole(
    stack: dict[str, StackProcess], module_redis: str
) -> None:
    """The deadline covers the body only: a slow but complete body is served."""
    key = api_key(module_redis, "viewer")
    body = json.dumps({"query": "help"}).encode()
    head = _head("/chatops/query", f"X-API-Key: {key}\r\nContent-Length: {len(body)}\r\n")
    answer = _exchange(stack["gateway"], head, [body[:5], body[5:]], wait_s=30)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:400]
