"""A real service process given a weak secret outside dev stops at once with one line on stderr
that names the setting, and no traceback; the test stack's own settings still start."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import SERVICES, service, stack_env

QUICKLY_S = 15.0


def _serve(name: str, env: dict[str, str]) -> tuple[int, str, float]:
    return _scops(["serve", name], env)


def _scops(args: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "scops", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=QUICKLY_S * 2,
        check=False,
    )
    return done.returncode, done.stderr.decode(errors="replace"), time.monotonic() - started


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_in_prod_with_an_empty_token_exits_with_one_line(
    name: str, redis_url: str
) -> None:
    env = stack_env(redis_url, {"SCOPS_ENV": "prod", "SCOPS_INTERNAL_TOKEN": ""})
    code, stderr, took = _serve(name, env)
    assert code != 0
    assert took < QUICKLY_S
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "SCOPS_INTERNAL_TOKEN is empty" in lines[0]


def test_the_gateway_in_prod_with_an_empty_slack_secret_exits_with_one_line(
    redis_url: str,
) -> None:
    env = stack_env(
        redis_url,
        {
            "SCOPS_ENV": "prod",
            "SCOPS_INTERNAL_TOKEN": "7" * 8 + "a1b2c3d4e5f6a7b8c9d0e1f2",
            "SCOPS_SLACK_SIGNING_SECRET": "   ",
        },
    )
    code, stderr, _ = _serve("gateway", env)
    assert code != 0 and "Traceback" not in stderr
    (line,) = stderr.strip().splitlines()
    assert "SCOPS_SLACK_SIGNING_SECRET is only whitespace" in line


def test_the_placeholder_token_on_every_interface_in_dev_is_refused(redis_url: str) -> None:
    env = stack_env(redis_url, {"SCOPS_ENV": "dev", "SCOPS_NOTIFIER_HOST": "0.0.0.0"})
    code, stderr, _ = _serve("notifier", env)
    assert code != 0 and "Traceback" not in stderr
    (line,) = stderr.strip().splitlines()
    assert "SCOPS_NOTIFIER_HOST=0.0.0.0 is not a loopback address" in line


def test_dev_on_loopback_with_the_placeholder_still_starts(redis_url: str, log_dir: Path) -> None:
    env = stack_env(redis_url, {"SCOPS_ENV": "dev"})
    env.pop("SCOPS_INTERNAL_TOKEN", None)
    process = service("notifier", env, log_dir).start()
    try:
        process.wait_ready()
    finally:
        process.stop()


def test_a_worker_and_the_whole_stack_refuse_the_same_way(redis_url: str, tmp_path: Path) -> None:
    env = stack_env(redis_url, {"SCOPS_ENV": "prod", "SCOPS_INTERNAL_TOKEN": "change-me"})
    run_dir = tmp_path / "run"
    for args in (["worker"], ["up", "--run-dir", str(run_dir)]):
        code, stderr, took = _scops(args, env)
        assert code != 0 and took < QUICKLY_S and "Traceback" not in stderr, args
        (line,) = stderr.strip().splitlines()
        assert "SCOPS_INTERNAL_TOKEN is the placeholder" in line, args
    assert not run_dir.exists()  # `scops up` refused before starting anything
