"""The script restart_service sends, run by a real shell against a stand-in ``systemctl`` (the
outermost edge: the instance's init system). An instance without the unit is left untouched
and says so with the exit code that keeps the failure out of the circuit breaker's count."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from services.remediator.core.actions.base import NOT_ON_TARGET_EXIT
from services.remediator.core.actions.registry import ActionRegistry

FAKE_SYSTEMCTL = """\
#!/bin/sh
echo "$*" >> "$CALLS"
case "$1" in
  show) echo "$LOAD_STATE" ;;
  is-active) echo active ;;
esac
"""


def run_restart(
    registry: ActionRegistry, tmp_path: Path, load_state: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(FAKE_SYSTEMCTL)
    systemctl.chmod(0o755)
    definition = registry["restart_service"]
    assert definition.shell is not None
    plan = definition.shell(definition.parse({"service": "nginx", "verify_s": 0}))
    calls = tmp_path / "calls"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "LOAD_STATE": load_state,
    }
    done = subprocess.run(
        ["/bin/sh", "-c", "\n".join(plan.commands)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=10,
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_a_unit_the_instance_lacks_is_not_restarted_and_says_so(
    registry: ActionRegistry, tmp_path: Path
) -> None:
    done, calls = run_restart(registry, tmp_path, "not-found")
    assert done.returncode == NOT_ON_TARGET_EXIT
    assert "nginx.service is not on this instance: not restarted" in done.stderr
    assert calls == ["show --property=LoadState --value -- nginx.service"]


def test_a_unit_the_instance_has_is_restarted_and_checked(
    registry: ActionRegistry, tmp_path: Path
) -> None:
    done, calls = run_restart(registry, tmp_path, "loaded")
    assert done.returncode == 0, done.stderr
    assert calls[1:] == ["restart nginx.service", "is-active nginx.service"]
