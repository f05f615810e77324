"""A configuration refused at start is one line naming the setting and why, "never its value"
(scops.config_errors, docs/security.md "Start-up refusals").

``SCOPS_TRAIN_SOURCES_ALLOWED_URLS`` (the detector) refuses URLs with credentials, naming only
the host; a URL with credentials *and* a typo elsewhere (a scheme ``htps``, a port that is not
a number) is quoted with its credentials masked, on stderr (the process log Kubernetes and
compose collect) as in ``scops backtest --prometheus``, which makes the same check."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scops.local_redis import free_port
from tests.support.processes import stack_env

PASSWORD = "PromPassQ7x9v2k5"


@pytest.mark.parametrize(
    "url",
    [
        f"htps://scops:{PASSWORD}@prometheus.example.com/",
        f"https://scops:{PASSWORD}@prometheus.example.com:9o90/",
    ],
)
def test_a_refused_history_source_url_is_not_printed_with_its_password(
    redis_url: str, url: str
) -> None:
    env = stack_env(redis_url, {"SCOPS_TRAIN_SOURCES_ALLOWED_URLS": f'["{url}"]'})
    env["SCOPS_DETECTOR_PORT"] = str(free_port())
    done = subprocess.run(
        [sys.executable, "-m", "scops", "serve", "detector"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr  # refused at start, as documented (sound)
    assert "SCOPS_TRAIN_SOURCES_ALLOWED_URLS" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr, done.stderr


def test_backtest_does_not_print_the_password_of_a_refused_prometheus_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"https://scops:{PASSWORD}@prometheus.example.com:9o90"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scops",
            "backtest",
            "--prometheus",
            url,
            "--query",
            "up",
            "--start",
            "now-1h",
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "credentials" in done.stderr or "not a valid URL" in done.stderr, done.stderr
    assert PASSWORD not in done.stdout + done.stderr, done.stderr
