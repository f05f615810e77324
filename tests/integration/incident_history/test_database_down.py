"""The history's database not answering is a 503 to retry, as Redis not answering is on every
service: the documents promise a 503 with ``Retry-After`` on every operation "when its store
is not answering", and the troubleshooting guide one ``store_unavailable`` line, not a 500 and
a traceback per request (which the gateway would relay).

PostgreSQL here is the suite's (a throwaway database on it, as the history's own tests make),
reached through a TCP forwarder this test owns: closing the forwarder is the database going
away, for this service only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from scops.local_redis import free_port
from tests.support.postgres_admin import ADMIN_URL, admin
from tests.support.processes import api_key, service, stack_env


class Forwarder:
    """127.0.0.1:<port> -> the PostgreSQL server; ``down()`` refuses and cuts everything."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def database() -> Iterator[str]:
    try:
        asyncio.run(admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"no PostgreSQL answers at {ADMIN_URL}: {type(exc).__name__}: {exc}")
    name = f"scops_history_down_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield name
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_reads_while_the_database_is_unreachable_are_503_not_500(
    redis_url: str, database: str, tmp_path: Path
) -> None:
    parts = urlsplit(ADMIN_URL)
    forwarder = Forwarder((parts.hostname or "127.0.0.1", parts.port or 5432))
    forwarder.up()
    user = parts.username or "postgres"
    auth = f"{user}:{parts.password}@" if parts.password else f"{user}@"
    url = f"postgresql+asyncpg://{auth}127.0.0.1:{forwarder.port}/{database}"
    env = stack_env(redis_url, {"SCOPS_HISTORY_DATABASE_URL": url})
    history = service("history", env, tmp_path)
    gateway = service("gateway", env, tmp_path)
    history.start()
    gateway.start()
    try:
        history.wait_ready()
        gateway.wait_ready()
        key = api_key(redis_url, "viewer")
        assert httpx.get(f"{history.url}/incidents", timeout=20).status_code == 200

        forwarder.down()
        time.sleep(0.5)
        ready = httpx.get(f"{history.url}/ready", timeout=20)
        assert ready.status_code == 503  # sound: /ready names the database
        assert ready.json()["checks"]["database"].startswith("failing")
        direct = httpx.get(f"{history.url}/incidents", timeout=20)
        through = httpx.get(f"{gateway.url}/incidents", headers={"X-API-Key": key}, timeout=20)
        log = history.log_text()

        forwarder.up()
        deadline = time.monotonic() + 20
        while httpx.get(f"{history.url}/ready", timeout=20).status_code != 200:
            assert time.monotonic() < deadline, "history not ready again"
            time.sleep(0.2)
        assert httpx.get(f"{history.url}/incidents", timeout=20).status_code == 200  # sound
    finally:
        forwarder.down()
        gateway.stop()
        history.stop()

    observed = {
        "history": (direct.status_code, direct.headers.get("retry-after"), direct.text[:120]),
        "gateway": (through.status_code, through.headers.get("retry-after"), through.text[:120]),
        "tracebacks_logged": log.count("Traceback (most recent call last)"),
    }
    assert direct.status_code == 503 and direct.headers.get("retry-after"), observed
    assert through.status_code == 503, observed
    assert "unhandled_error" not in log, observed
