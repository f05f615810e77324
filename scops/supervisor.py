"""``scops up``: the whole stack on this machine, in the foreground, until Ctrl-C.

Starts a Redis when none answers at ``SCOPS_REDIS_URL``, the four services (and the CloudWatch
collector when AWS is configured) and a Celery worker (each a child process with its log in
``.run/logs/``), waits until every service is ready, prints where to look, and on Ctrl-C (or
SIGTERM) stops everything it started, Redis last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from scops.local_redis import LocalRedis, ensure_redis
from scops.processes import HTTP_SERVICES, detector_processes, services_to_run
from services.remediator.config import RemediatorSettings
from shared.settings import BaseServiceSettings

STOP_GRACE_S = 20.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


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
        self.redis = ensure_redis(url, log_path=self.log_dir / "redis.log")
        origin = "started here" if self.redis.started_here else "already running"
        print(f"redis       {url.split('@')[-1]}  ({origin})", flush=True)
        self.services = services_to_run()
        detectors = detector_processes(self.detectors)
        shared_env = dict(os.environ)
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

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "scops", *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops them
                env=env,
            )
        self.children.append(Child(name, process, log_path))

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
                tail = child.log_path.read_text(errors="replace").splitlines()[-15:]
                raise RuntimeError(
                    f"{child.name} exited with {code}; last lines of {child.log_path}:\n"
                    + "\n".join(tail)
                )

    def stop(self) -> None:
        for child in self.children:
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
    print(f"  outbox (no Slack set)  {HTTP_SERVICES['notifier'].url()}/notifications/outbox")
    worker_port = RemediatorSettings().worker_metrics_port
    if worker_port:
        print(f"  worker task metrics    http://127.0.0.1:{worker_port}/metrics")
    print(f"  logs                   {stack.log_dir}/")
    print("\nAPI keys: .venv/bin/scops keys create --name me --role admin")
    print("In another terminal: make demo    ·    Ctrl-C stops everything.\n", flush=True)


def up(
    run_dir: Path, worker_concurrency: int = 2, ready_timeout: float = 60.0, detectors: int = 1
) -> int:
    stack = Stack(run_dir, worker_concurrency, detectors)

    def _terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        stack.start()
        stack.wait_ready(ready_timeout)
        _print_banner(stack)
        while True:
            stack.check_alive()
            time.sleep(0.5)
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
