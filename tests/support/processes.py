"""Real processes of the stack for integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from scops.keys import create_key
from scops.local_redis import free_port
from services.gateway.api_keys import Role


@dataclass
class StackProcess:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    url: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    own_group: bool = False  # a process group of its own, so a test can kill it whole

    def start(self) -> StackProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scops", *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_group,
            )
        return self

    def wait_ready(self, timeout: float = 60.0) -> StackProcess:
        assert self.url is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_alive()
            try:
                if httpx.get(self.url + "/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready in {timeout}s:\n{self.log_tail()}")

    def assert_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


SERVICES = ("gateway", "detector", "remediator", "notifier")
ALL_SERVICES = (*SERVICES, "collector")  # the collector runs where AWS is configured


def stack_env(redis_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPS_")}
    env.update(
        {
            "SCOPS_ENV": "test",
            "SCOPS_REDIS_URL": redis_url,
            "SCOPS_CONSUMER_BLOCK_MS": "200",
            "SCOPS_CLAIM_IDLE_MS": "2000",
            "SCOPS_WORKER_METRICS_PORT": "0",  # a test that scrapes a worker sets its own
            # Trained when a test's first ChatOps message needs it: most stacks never ask.
            "SCOPS_CHATOPS_WARM_START": "false",
        }
    )
    for name in (*ALL_SERVICES, "history"):  # every service a stack may run gets its own port
        port = free_port()
        env[f"SCOPS_{name.upper()}_PORT"] = str(port)
        env[f"SCOPS_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"  # where the gateway calls
    env.update(extra or {})
    return env


def api_key(redis_url: str, role: str, name: str = "test") -> str:
    """A real API key, created as `scops keys create` does."""
    return asyncio.run(create_key(redis_url, name, Role(role)))


def service(name: str, env: dict[str, str], log_dir: Path) -> StackProcess:
    url = f"http://127.0.0.1:{env[f'SCOPS_{name.upper()}_PORT']}"
    return StackProcess(name, ["serve", name], env, log_dir / f"{name}.log", url)


def worker(env: dict[str, str], log_dir: Path, concurrency: int = 1, tag: str = "") -> StackProcess:
    return StackProcess(
        f"worker{tag}",
        ["worker", "--concurrency", str(concurrency)],
        env,
        log_dir / f"worker{tag}.log",
    )
