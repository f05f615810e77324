"""cleanup_disk never deletes the machine's own record: the systemd journal (which only
``journal_max_size``, at least 16M, may shrink) and the audit log, whatever directory it is
asked to clean, from a rule, an alert label or a person."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from services.remediator.core.actions.registry import ActionRegistry
from tests.unit.remediator.core.actions.test_param_allow_lists import (
    catalogue_refusal,
    refusal,
)

RECORDS = ["/var/log/journal", "/var/log/journal/0f1e2d3c", "/var/log/audit", "/var/log/audit/x"]


@pytest.mark.parametrize("path", RECORDS)
def test_the_journal_and_the_audit_log_are_not_cleanable(
    registry: ActionRegistry, path: str
) -> None:
    assert "paths" in refusal(registry, "cleanup_disk", paths=[path])


@pytest.mark.parametrize("root", ["/var/log/journal", "/var/log/audit"])
def test_a_catalogue_cannot_make_them_cleanable(tmp_path: Path, root: str) -> None:
    catalogue_refusal(tmp_path, f"cleanable_paths: [{root}]\n")


def test_cleaning_a_directory_that_holds_them_leaves_them_alone(
    registry: ActionRegistry, tmp_path: Path
) -> None:
    definition = registry["cleanup_disk"]
    assert definition.shell is not None
    plan = definition.shell(
        definition.parse(
            {"paths": ["/var/log"], "older_than_days": 1, "clean_package_cache": False}
        )
    )
    (clean,) = [c for c in plan.commands if "find" in c]
    # The same command on a copy of /var/log (every /var/log it names moved there).
    logs = tmp_path.resolve() / "var-log"
    old = time.time() - 10 * 86400
    files = {
        name: logs / name
        for name in ("app/old.log", "journal/0f1e/system@1.journal", "audit/audit.log.1")
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        os.utime(path, (old, old))
    script = "set -u; refused=0; " + clean.replace("/var/log", str(logs)) + '; exit "$refused"'
    subprocess.run(["bash", "-c", script], check=True, capture_output=True, timeout=30)
    assert not files["app/old.log"].exists()
    assert files["journal/0f1e/system@1.journal"].exists()
    assert files["audit/audit.log.1"].exists()
