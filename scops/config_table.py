"""Every ``SCOPS_`` variable, for the README's configuration table and ``.env.example``."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import SecretStr

from scops.processes import HTTP_SERVICES
from shared.settings import BaseServiceSettings


def rows() -> Iterator[tuple[str, str, str, str]]:
    """(variable, service, default, description), base settings first."""
    seen: set[str] = set()
    owners: list[tuple[str, type[BaseServiceSettings]]] = [("all", BaseServiceSettings)]
    owners += [(name, s.settings_class) for name, s in HTTP_SERVICES.items()]
    for owner, cls in owners:
        for name, field in cls.model_fields.items():
            if name in seen:
                continue
            seen.add(name)
            default = field.default
            if isinstance(default, SecretStr):
                default = "(secret)"
            yield (
                f"SCOPS_{name.upper()}",
                owner,
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
