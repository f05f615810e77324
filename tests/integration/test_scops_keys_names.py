"""``scops keys create`` refuses a name it cannot store or show in one line (empty, blank, with a
line break or another control character) with one line and exit status 2, not a traceback, and
stores nothing. Real Redis, the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from services.gateway.api_keys import KEYS_HASH

REPO = Path(__file__).resolve().parents[2]


def scops_keys(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCOPS_REDIS_URL": redis_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "scops", "keys", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "a key needs a name"),
        ("   ", "a key needs a name"),
        ("ana\nadmin", "no line breaks or other control characters"),
        ("ana\tops", "no line breaks or other control characters"),
    ],
)
def test_a_name_that_cannot_be_shown_in_one_line_is_refused_in_one_line(
    redis_url: str, sync_redis: redis.Redis, name: str, why: str
) -> None:
    done = scops_keys(redis_url, "create", "--name", name, "--role", "admin")
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and why in line, line
    assert sync_redis.hlen(KEYS_HASH) == 0


def test_an_owner_is_held_to_the_same_rule(redis_url: str, sync_redis: redis.Redis) -> None:
    done = scops_keys(redis_url, "create", "--name", "ci", "--role", "ingest", "--owner", "a\rb")
    assert done.returncode == 2 and "control characters" in done.stderr, done
    assert sync_redis.hlen(KEYS_HASH) == 0
    listed = scops_keys(redis_url, "create", "--name", "Jürgen ops", "--role", "viewer")
    assert listed.returncode == 0, listed
    assert sync_redis.hlen(KEYS_HASH) == 1
