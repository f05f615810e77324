"""Free disk space on the target instances (SSM Run Command).

Deletes regular files older than ``older_than_days`` under the given directories (never
crossing into other file systems), vacuums the systemd journal down to ``journal_max_size`` and
cleans the package manager's cache. Prints ``df -h`` before and after. Targets: instance ids or
tags. Risk: low.
"""

from __future__ import annotations

import shlex

from pydantic import Field, field_validator

from services.remediator.actions.base import ActionDefinition, ShellParams, ShellPlan
from services.remediator.risk import Risk
from services.remediator.targets import Target

# Directories that hold data rather than disposable files are refused outright.
PROTECTED = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/proc", "/root", "/sbin",
             "/sys", "/usr", "/var", "/var/lib")  # fmt: skip


class CleanupDiskParams(ShellParams):
    paths: list[str] = Field(
        default_factory=lambda: ["/tmp", "/var/tmp"],  # noqa: S108 - what gets cleaned
        min_length=1,
        max_length=10,
        description="Directories to clean.",
    )
    older_than_days: int = Field(7, ge=1, le=365)
    journal_max_size: str = Field("200M", pattern=r"^[0-9]{1,5}[KMG]$")
    clean_package_cache: bool = True

    @field_validator("paths")
    @classmethod
    def _safe_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            normal = path.rstrip("/") or "/"
            if not normal.startswith("/") or ".." in normal.split("/"):
                raise ValueError(f"{path!r}: give absolute paths without '..'")
            if normal in PROTECTED:
                raise ValueError(f"{path!r} is protected: name a directory of disposable files")
        return value


def shell(params: CleanupDiskParams) -> ShellPlan:
    commands = ["set -u", "df -h"]
    for path in params.paths:
        quoted = shlex.quote(path)
        commands.append(
            f"if [ -d {quoted} ]; then echo deleted under {quoted}: $(find {quoted} -xdev "
            f"-type f -mtime +{params.older_than_days} -delete -print | wc -l) files; fi"
        )
    commands.append(
        f"command -v journalctl >/dev/null && journalctl --vacuum-size={params.journal_max_size}"
        " || true"
    )
    if params.clean_package_cache:
        commands.append(
            "if command -v apt-get >/dev/null; then apt-get clean; "
            "elif command -v dnf >/dev/null; then dnf clean all; "
            "elif command -v yum >/dev/null; then yum clean all; fi"
        )
    commands.append("df -h")
    return ShellPlan(tuple(commands), params.timeout_s, params.max_concurrency, params.max_errors)


def describe(params: CleanupDiskParams, target: Target) -> str:
    paths = ", ".join(params.paths)
    days = params.older_than_days
    return f"delete files older than {days} days under {paths} on {target.describe()}"


ACTION = ActionDefinition(
    name="cleanup_disk",
    doc=__doc__ or "",
    params_model=CleanupDiskParams,
    risk=Risk.LOW,
    targets=frozenset({"instances", "tags"}),
    describe=describe,
    shell=shell,
)
