"""Every ``SCOPS_`` variable, for the README's configuration table and ``.env.example``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from scops.processes import ALL_SERVICES
from shared.aws_settings import AwsSettings
from shared.settings import BaseServiceSettings


def rows() -> Iterator[tuple[str, str, str, str]]:
    """(variable, services, default, description), base settings first; a variable that
    several services declare names them all."""
    owners: list[tuple[str, type[BaseServiceSettings]]] = [
        ("all", BaseServiceSettings),
        ("remediator, notifier, collector", AwsSettings),
    ]
    owners += [(name, s.settings_class) for name, s in ALL_SERVICES.items()]
    first: dict[str, tuple[str, FieldInfo]] = {}
    readers: dict[str, list[str]] = {}
    for owner, cls in owners:
        for name, field in cls.model_fields.items():
            if name not in first:
                first[name] = (owner, field)
                readers[name] = [owner]
            elif first[name][0] not in ("all", owner) and owner not in readers[name]:
                readers[name].append(owner)
    for name, (owner, field) in first.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list | tuple):
            default = json.dumps([getattr(d, "model_dump", lambda d=d: d)() for d in default])
        if isinstance(default, SecretStr):
            default = "(secret)"
        inherited = owner.count(",") > 0  # the shared AWS settings already name their readers
        yield (
            f"SCOPS_{name.upper()}",
            owner if inherited else ", ".join(readers[name]),
            "" if default is None else str(default),
            field.description or "",
        )


def markdown() -> str:
    lines = ["| variable | service | default | meaning |", "|---|---|---|---|"]
    lines += [
        f"| `{v}` | {o} | `{d}` | {m} |" if d else f"| `{v}` | {o} | | {m} |"
        for v, o, d, m in rows()
    ]
    return "\n".join(lines)


START = "<!-- config-table:start -->"
END = "<!-- config-table:end -->"


def env_example() -> str:
    lines = [
        "# Every setting of Smart CloudOps AI, with its default. Copy to .env and change what"
        " you need."
    ]
    for var, owner, default, meaning in rows():
        lines += [
            "",
            f"# {meaning} ({owner})",
            f"# {var}={'' if default == '(secret)' else default}",
        ]
    return "\n".join(lines) + "\n"


def write(root: Path) -> None:
    """Rewrite the README's table (between the markers) and ``.env.example``."""
    readme = root / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{START}\n{markdown()}\n{END}{tail}")
    (root / ".env.example").write_text(env_example())


if __name__ == "__main__":
    write(Path.cwd())
