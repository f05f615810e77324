"""``scops up`` (what ``make up`` runs) as a user meets it: the whole stack starts, says where
to look, and stops everything on Ctrl-C; a second one started beside it refuses at once,
naming what is in the way, instead of announcing a stack that is not its own."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from scops.local_redis import free_port
from scops.processes import ALL_SERVICES
from shared.streams import metrics_stream
from tests.support.processes import api_key, stack_env


def _env(redis_url: str, run_dir: Path) -> dict[str, str]:
    """The stack's environment; its files go under ``run_dir`` (``--run-dir``) by default."""
    return stack_env(redis_url)


class Output:
    """The lines a process prints, read in the background so it never blocks on a full pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        self.stream = process.stdout
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.stream:
            self.lines.put(line)

    def close(self) -> None:
        """After the process ended: the rest of its output read, the pipe closed."""
        self.reader.join(timeout=10)
        self.stream.close()

    def until(self, text: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} within {timeout}s:\n" + "".join(self.seen))
            try:
                self.seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                continue
        return self.seen


def _as_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to `cmd &`


def _up(env: dict[str, str], run_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scops", "up", "--run-dir", str(run_dir)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Started the way a script starts it in the background, where SIGINT is ignored until
        # the program itself listens for it: `kill -INT` must stop the stack all the same.
        preexec_fn=_as_a_background_job,
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_second_stack_where_one_listens_refuses_naming_what_is_in_the_way(
    redis_url: str, tmp_path: Path, occupied: int
) -> None:
    env = _env(redis_url, tmp_path)
    env["SCOPS_GATEWAY_PORT"] = str(occupied)
    process = _up(env, tmp_path)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "is up" not in out
    assert f"gateway (http://127.0.0.1:{occupied})" in out
    assert "Is another `scops up` running?" in out
    assert list((tmp_path / "logs").glob("*.log")) == []  # refused before starting anything


def test_the_whole_stack_starts_says_where_to_look_and_stops_on_ctrl_c(
    redis_url: str, tmp_path: Path
) -> None:
    env = _env(redis_url, tmp_path)
    ports = {name: int(env[f"SCOPS_{name.upper()}_PORT"]) for name in ALL_SERVICES}
    started = {n: p for n, p in ports.items() if n != "collector"}  # no AWS configured
    process = _up(env, tmp_path)
    output = Output(process)
    try:
        banner = "".join(output.until("Ctrl-C stops everything", timeout=180))
        assert "Smart CloudOps AI is up." in banner
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        assert f"operator console       {gateway}/console/" in banner
        for name, port in started.items():
            assert f"http://127.0.0.1:{port}" in banner, name
            assert httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200, name
        assert not _listening(ports["collector"])
        assert "outbox (no Slack set)" in banner
        assert (tmp_path / "history.db").is_file()  # the run directory holds the state
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
    assert "stopped." in "".join(output.until("stopped.", timeout=5))
    output.close()
    assert [name for name, port in started.items() if _listening(port)] == []


def _children(pid: int) -> dict[int, str]:
    """The processes ``pid`` started: their pid and command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found[int(entry.name)] = command
    return found


def _pid_of(supervisor: int, needle: str) -> int:
    matches = [pid for pid, command in _children(supervisor).items() if needle in command]
    assert len(matches) == 1, _children(supervisor)
    return matches[0]


def test_killed_processes_come_back_and_redis_keeps_what_it_acknowledged(tmp_path: Path) -> None:
    """kill -9 of a service or of the Redis the stack started: each is started again, and
    what Redis acknowledged before it died (an accepted sample, an API key) is still there."""
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing answers: the stack starts one
    env = _env(redis_url, tmp_path)
    gateway = f"http://127.0.0.1:{env['SCOPS_GATEWAY_PORT']}"
    detector = f"http://127.0.0.1:{env['SCOPS_DETECTOR_PORT']}"
    process = _up(env, tmp_path)
    output = Output(process)
    try:
        output.until("Ctrl-C stops everything", timeout=180)
        key = api_key(redis_url, "ingest")
        sample = {"resource_id": "web-1", "metric": "cpu", "value": 3.0, "timestamp": time.time()}
        accepted = httpx.post(
            f"{gateway}/v1/metrics", json={"samples": [sample]}, headers={"X-API-Key": key}
        )
        assert accepted.status_code == 202
        entry = accepted.json()["entries"][0]

        os.kill(_pid_of(process.pid, "scops serve detector"), signal.SIGKILL)
        output.until("detector exited with -9; starting it again now", timeout=10)
        output.until("detector started again", timeout=10)
        eventually_ready(f"{detector}/ready", timeout=120)

        os.kill(_pid_of(process.pid, "redis-server"), signal.SIGKILL)
        output.until("redis is back", timeout=30)
        client = redis.Redis.from_url(redis_url)
        try:
            stream = shard_stream_of(client, entry)
            assert stream is not None, "the accepted sample's entry is gone"
        finally:
            client.close()
        again = httpx.post(
            f"{gateway}/v1/metrics", json={"samples": [sample]}, headers={"X-API-Key": key}
        )
        assert again.status_code == 202, again.text  # the key survived, the gateway reconnected
        assert process.poll() is None  # the stack is still up
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    output.close()
    assert process.returncode == 0


def eventually_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready within {timeout}s"
        time.sleep(0.2)


def shard_stream_of(client: redis.Redis, entry_id: str) -> str | None:
    """The metric stream holding ``entry_id``, if any still does."""
    for stream in (metrics_stream(shard) for shard in range(64)):
        if client.xrange(stream, min=entry_id, max=entry_id):
            return stream
    return None


def test_when_the_stack_itself_is_killed_nothing_is_left_behind(tmp_path: Path) -> None:
    """kill -9 of ``scops up`` (the terminal closed under it): its services and Redis end too,
    so the next ``make up`` finds its ports free."""
    redis_port = free_port()
    env = _env(f"redis://127.0.0.1:{redis_port}/0", tmp_path)
    ports = {name: int(env[f"SCOPS_{name.upper()}_PORT"]) for name in ALL_SERVICES}
    process = _up(env, tmp_path)
    output = Output(process)
    output.until("Ctrl-C stops everything", timeout=180)
    started = _children(process.pid)
    assert len(started) >= 6, started  # redis, four services, a worker
    process.kill()
    process.wait(timeout=10)
    output.close()
    deadline = time.monotonic() + 60
    while left := [p for p in started if Path(f"/proc/{p}").exists() and _alive(p)]:
        assert time.monotonic() < deadline, {p: started[p] for p in left}
        time.sleep(0.2)
    assert [n for n, port in ports.items() if _listening(port)] == []
    assert not _listening(redis_port)


def _alive(pid: int) -> bool:
    """Not a zombie (a child of the killed process waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
