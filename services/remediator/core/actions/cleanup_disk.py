"""Free disk space on the target instances (SSM Run Command).

Deletes regular files older than ``older_than_days`` under the given directories (never
crossing into other file systems), vacuums the systemd journal down to ``journal_max_size`` and
cleans the package manager's cache. Prints ``df -h`` before and after. Targets: instance ids or
tags. Risk: low.

Each directory must be a plain absolute path (no ``.`` or ``..`` segments, no ``//``, no
trailing ``/``) at or under a cleanable root: ``/tmp``, ``/var/tmp`` and ``/var/log`` unless
the script catalogue's ``cleanable_paths`` says otherwise. On the instance, a directory that is
a symbolic link, or lies under one, is skipped and the command fails saying so. The systemd
journal and the audit log (``/var/log/journal``, ``/run/log/journal``, ``/var/log/audit``) are
never cleaned: cleaning ``/var/log`` leaves them alone (the journal shrinks only to
``journal_max_size``).
"""

from __future__ import annotations

import re
import shlex

from pydantic import Field, ValidationInfo, field_validator

from services.remediator.core.actions.base import (
    ActionDefinition,
    ShellParams,
    ShellPlan,
    unfilled_template,
)
from services.remediator.core.actions.catalogue import ScriptCatalogue
from services.remediator.core.actions.cleanable_paths import (
    DEFAULT_ROOTS,
    check_cleanable,
    record_trees_under,
)
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target

ROOTS = "cleanable_roots"  # validation context: the configured roots
JOURNAL_SIZE = re.compile(r"([0-9]{1,5})([KMG])")
JOURNAL_FLOOR_MB = 16  # never vacuum the journal (the machine's own record) below this
_MB = {"K": 1 / 1024, "M": 1, "G": 1024}


class CleanupDiskParams(ShellParams):
    paths: list[str] = Field(
        default_factory=lambda: ["/tmp", "/var/tmp"],  # noqa: S108 - what gets cleaned
        min_length=1,
        max_length=10,
        description="Directories to clean: plain absolute paths at or under a cleanable root.",
        validate_default=True,
    )
    older_than_days: int = Field(7, ge=1, le=365)
    journal_max_size: str = Field(
        "200M", description=f"Journal size to keep, at least {JOURNAL_FLOOR_MB}M (K, M or G)."
    )
    clean_package_cache: bool = True

    @field_validator("paths")
    @classmethod
    def _cleanable(cls, value: list[str], info: ValidationInfo) -> list[str]:
        roots = (info.context or {}).get(ROOTS, DEFAULT_ROOTS)
        for index, path in enumerate(value):
            if not unfilled_template(info, index):
                check_cleanable(path, roots)
        return value

    @field_validator("journal_max_size")
    @classmethod
    def _journal_floor(cls, value: str) -> str:
        match = JOURNAL_SIZE.fullmatch(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a size such as 200M (1 to 5 digits, then K, M or G)"
            )
        if int(match.group(1)) * _MB[match.group(2)] < JOURNAL_FLOOR_MB:
            raise ValueError(f"{value} would empty the journal: keep at least {JOURNAL_FLOOR_MB}M")
        return value


def _clean(path: str, days: int) -> str:
    quoted = shlex.quote(path)
    # The journal and the audit log inside the directory are left alone (-prune would not
    # work: -delete implies -depth).
    spared = "".join(f"! -path {shlex.quote(tree + '/*')} " for tree in record_trees_under(path))
    return (
        f'if [ -d {quoted} ] && [ ! -L {quoted} ] && [ "$(readlink -f -- {quoted})" = {quoted} ]; '
        f"then echo deleted under {quoted}: $(find -P {quoted} -xdev -type f {spared}"
        f"-mtime +{days} -delete -print | wc -l) files; "
        f"elif [ -e {quoted} ] || [ -L {quoted} ]; then "
        f"echo refused {quoted}: not a directory, or a symbolic link is on its path >&2; "
        "refused=1; "
        f"else echo no directory {quoted}; fi"
    )


def shell(params: CleanupDiskParams) -> ShellPlan:
    commands = ["set -u", "refused=0", "df -h"]
    commands += [_clean(path, params.older_than_days) for path in params.paths]
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
    commands += ["df -h", 'exit "$refused"']
    return ShellPlan(tuple(commands), params.timeout_s, params.max_concurrency, params.max_errors)


def describe(params: CleanupDiskParams, target: Target) -> str:
    paths = ", ".join(params.paths)
    days = params.older_than_days
    return f"delete files older than {days} days under {paths} on {target.describe()}"


def definition(catalogue: ScriptCatalogue) -> ActionDefinition:
    return ActionDefinition(
        name="cleanup_disk",
        doc=__doc__ or "",
        params_model=CleanupDiskParams,
        risk=Risk.LOW,
        targets=frozenset({"instances", "tags"}),
        describe=describe,
        shell=shell,
        extra={ROOTS: catalogue.cleanable_roots},
    )
