"""``scops up``: the whole stack on this machine, in the foreground, until Ctrl-C.

Starts a Redis when none answers at ``SCOPS_REDIS_URL`` (keeping its data in ``.run/redis/``,
written before it answers, so nothing it acknowledged is lost when it is killed), the four
services (and the CloudWatch collector when AWS is configured) and a Celery worker (each a child
process with its log in ``.run/logs/``), waits until every service is ready, prints where to
look, and on Ctrl-C (or SIGTERM) stops everything it started, Redis last.

Once the stack is up, a process that exits (a crash, an out-of-memory kill, ``kill -9``) is
started again at once, then after 1, 2, 4 ... up to 30 seconds while it keeps exiting within a
minute of its start; a process killed (SIGKILL) at least two seconds after its start is always
started again at once. Each exit and restart is printed. A process that exits while the stack is
still starting is a fault to fix (a setting, a port): the stack stops and says which.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx

from scops.lifetime import die_with_parent
from scops.local_redis import LocalRedis, RedisUnavailableError, ensure_redis
from scops.processes import HTTP_SERVICES, detector_processes, services_to_run
from services.notifier.config import NotifierSettings
from services.remediator.config import RemediatorSettings
from shared.settings import BaseServiceSettings

STOP_GRACE_S = 20.0
RESTART_DELAYS_S = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # by exits in a row
STEADY_S = 60.0  # a process up this long starts its count of exits in a row afresh
KILLED_EARLY_S = 2.0  # SIGKILLed sooner after its start, a process's exit counts as a failure


def restart_delay(code: int, lived_s: float, exits_in_a_row: int) -> tuple[float, int]:
    """How long to wait before starting again a process that exited with ``code`` after
    ``lived_s``, and its new count of exits in a row.

    A process that keeps failing by itself waits longer each time (a crash loop must not burn
    the machine). One killed from outside (SIGKILL: ``kill -9``, an OOM kill) after it had
    started (``KILLED_EARLY_S``, about how long a service takes to start) did not fail: it
    starts again at once, its count of exits in a row over. Killed sooner, it counts like any
    other exit (an OOM at start up would loop otherwise)."""
    if code == -signal.SIGKILL and lived_s >= KILLED_EARLY_S:
        return 0.0, 0
    if lived_s >= STEADY_S:
        exits_in_a_row = 0
    delay = RESTART_DELAYS_S[min(exits_in_a_row, len(RESTART_DELAYS_S) - 1)]
    return delay, exits_in_a_row + 1


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int = 0  # where this run's lines start (the log is appended to)
    started_at: float = 0.0  # monotonic
    exits_in_a_row: int = 0
    restart_at: float | None = None  # monotonic; set while it waits to be started again

    def log_tail(self, lines: int = 15) -> list[str]:
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode(errors="replace").splitlines()[-lines:]


def port_in_use(url: str) -> bool:
    """Whether something already listens where ``url`` says a service will."""
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port
    if port is None:
        return False
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


class Stack:
    def __init__(self, run_dir: Path, worker_concurrency: int, detectors: int = 1) -> None:
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.worker_concurrency = worker_concurrency
        self.detectors = detectors
        self.children: list[Child] = []
        self.redis: LocalRedis | None = None
        self.services = dict(HTTP_SERVICES)
        self.urls: dict[str, str] = {}  # every HTTP process: name -> where it listens

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        url = BaseServiceSettings().redis_url
        self.redis = ensure_redis(
            url, log_path=self.log_dir / "redis.log", data_dir=self.run_dir / "redis"
        )
        origin = "started here" if self.redis.started_here else "already running"
        print(f"redis       {url.split('@')[-1]}  ({origin})", flush=True)
        self.services = services_to_run()
        detectors = detector_processes(self.detectors)
        planned = {n: s.url() for n, s in self.services.items() if n != "detector"}
        planned.update({d.name: d.url for d in detectors} if "detector" in self.services else {})
        taken = [f"{name} ({url})" for name, url in planned.items() if port_in_use(url)]
        if taken:
            raise RuntimeError(
                "something already listens where this stack would: "
                + ", ".join(taken)
                + ". Is another `scops up` running? Stop it, or give this one other ports "
                "(SCOPS_<SERVICE>_PORT)."
            )
        shared_env = {**self.state_paths(), **os.environ}
        if self.detectors > 1:
            shared_env["SCOPS_DETECTOR_URLS"] = json.dumps([d.url for d in detectors])
        for name, service in self.services.items():
            if name == "detector":
                for process in detectors:
                    self.urls[process.name] = process.url
                    self._spawn(process.name, ["serve", name], {**shared_env, **process.env})
                continue
            self.urls[name] = service.url()
            self._spawn(name, ["serve", name], shared_env)
        self._spawn("worker", ["worker", "--concurrency", str(self.worker_concurrency)], shared_env)

    def state_paths(self) -> dict[str, str]:
        """Where the services keep their files, under the run directory (what the
        environment sets wins): the history database, models of an older version."""
        run_dir = self.run_dir.resolve()
        return {
            "SCOPS_HISTORY_DATABASE_URL": f"sqlite+aiosqlite:///{run_dir / 'history.db'}",
            "SCOPS_MODEL_DIR": str(run_dir / "models"),
        }

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log_path = self.log_dir / f"{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        process = self._launch(args, env, log_path)
        self.children.append(Child(name, args, env, process, log_path, offset, time.monotonic()))

    @staticmethod
    def _launch(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log_file:
            return subprocess.Popen(
                [sys.executable, "-m", "scops", *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops them
                env=env,
                preexec_fn=die_with_parent,
            )

    def tend(self) -> None:
        """Start again what exited (Redis first: the others need it), each after its delay."""
        if self.redis is not None and self.redis.process is not None:
            code = self.redis.process.poll()
            if code is not None:
                print(f"redis exited with {code}; starting it again", flush=True)
                try:
                    self.redis.restart()
                except RedisUnavailableError as exc:
                    print(f"redis did not come back ({exc}); trying again", flush=True)
                    time.sleep(1.0)
                    return
                print("redis is back", flush=True)
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    child.log_offset = child.log_path.stat().st_size
                    child.process = self._launch(child.args, child.env, child.log_path)
                    child.started_at = time.monotonic()
                    print(f"{child.name} started again (pid {child.process.pid})", flush=True)
                continue
            code = child.process.poll()
            if code is None:
                continue
            delay, child.exits_in_a_row = restart_delay(
                code, now - child.started_at, child.exits_in_a_row
            )
            child.restart_at = now + delay
            when = "now" if delay == 0 else f"in {delay:.0f} s"
            print(
                f"{child.name} exited with {code}; starting it again {when} "
                f"(its log: {child.log_path})",
                flush=True,
            )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.urls)
        with httpx.Client(timeout=1.0) as client:
            while pending:
                self.check_alive()
                for name, url in list(pending.items()):
                    try:
                        if client.get(url + "/ready").status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
                time.sleep(0.2)

    def check_alive(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"{child.name} exited with {code}; its last lines in {child.log_path}:\n"
                    + "\n".join(child.log_tail())
                )

    def stop(self) -> None:
        for child in self.children:
            child.restart_at = None
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        if self.redis is not None:
            self.redis.stop()


def _print_banner(stack: Stack) -> None:
    gateway = HTTP_SERVICES["gateway"].url()
    print("\nSmart CloudOps AI is up.\n", flush=True)
    print(f"  operator console       {gateway}/console/  (sign in with an API key)")
    print(f"  Swagger UI (gateway)   {gateway}/docs")
    for name, url in stack.urls.items():
        print(f"  {name:<22} {url}  (/health /ready /metrics /docs)")
    if NotifierSettings().slack_webhook_url is None:
        print(f"  outbox (no Slack set)  {HTTP_SERVICES['notifier'].url()}/notifications/outbox")
    else:
        print("  Slack                  the webhook in SCOPS_SLACK_WEBHOOK_URL")
    worker_port = RemediatorSettings().worker_metrics_port
    if worker_port:
        metrics = f"http://127.0.0.1:{worker_port}/metrics"
        if _answers(metrics):
            print(f"  worker task metrics    {metrics}")
        else:
            print(f"  worker task metrics    not served (port {worker_port} busy? see worker.log)")
    print(f"  logs                   {stack.log_dir}/")
    print("\nAPI keys: .venv/bin/scops keys create --name me --role admin")
    print("In another terminal: make demo    ·    Ctrl-C stops everything.\n", flush=True)


def _answers(url: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while True:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)


def up(
    run_dir: Path, worker_concurrency: int = 2, ready_timeout: float = 60.0, detectors: int = 1
) -> int:
    stack = Stack(run_dir, worker_concurrency, detectors)

    def _terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    # Also when started from a shell that ignores SIGINT (a background job): Ctrl-C or
    # `kill -INT` must still stop the stack.
    signal.signal(signal.SIGINT, _terminate)
    try:
        stack.start()
        stack.wait_ready(ready_timeout)
        _print_banner(stack)
        while True:
            stack.tend()
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        # A second Ctrl-C (or make forwarding the signal again) must not cut the shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        print("stopped.", flush=True)
