"""A remediator that acts for real through its local executor, running a catalogue script that
stands in for a fix: the worker processes' environment and the in-process API's settings, both
from one rules text, for tests of what happens after an action."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.remediator.config import RemediatorSettings
from tests.support.processes import stack_env

SCRIPTS = """\
version: 1
scripts:
  relieve:
    description: Stands in for a fix.
    risk: low
    timeout_s: 30
    commands: ["echo relieved"]
"""


def local_executor_env(
    redis_url: str,
    tmp_path: Path,
    rules_text: str,
    catalogue_text: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Writes the rules and the script catalogue under ``tmp_path``; the environment of
    remediator processes that act through the local executor, for real (not a dry run)."""
    rules, catalogue = tmp_path / "rules.yaml", tmp_path / "catalogue.yaml"
    rules.write_text(rules_text)
    catalogue.write_text(catalogue_text)
    return stack_env(
        redis_url,
        {
            "SCOPS_RULES_PATH": str(rules),
            "SCOPS_SCRIPT_CATALOGUE_PATH": str(catalogue),
            "SCOPS_EXECUTOR": "local",
            "SCOPS_DRY_RUN": "false",
            **(extra or {}),
        },
    )


def local_remediator(
    redis_url: str, tmp_path: Path, rules_text: str, token: str
) -> tuple[dict[str, str], RemediatorSettings]:
    """:func:`local_executor_env` with a catalogue of one script; no cooldown, verification
    checked every 0.5 s. Returns the environment for worker processes and the API's settings."""
    env = local_executor_env(
        redis_url,
        tmp_path,
        rules_text,
        SCRIPTS,
        {"SCOPS_COOLDOWN_S": "0", "SCOPS_VERIFY_CHECK_S": "0.5", "SCOPS_LOG_LEVEL": "WARNING"},
    )
    settings = RemediatorSettings.model_validate(
        {
            "redis_url": redis_url,
            "rules_path": env["SCOPS_RULES_PATH"],
            "script_catalogue_path": env["SCOPS_SCRIPT_CATALOGUE_PATH"],
            "executor": "local",
            "dry_run": False,
            "internal_token": SecretStr(token),
            "env": "test",
            "consumer_block_ms": 50,
            "log_json": False,
        }
    )
    return env, settings
