"""The test tiers stand alone: a unit, integration or end-to-end test imports from its own tier
or from ``tests.support`` (what several tiers share), never from another tier. A tier can then
be run, moved or deleted without breaking the others."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "e2e")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_no_test_imports_from_another_tier() -> None:
    crossings = []
    for tier in TIERS:
        others = [t for t in TIERS if t != tier]
        for path in sorted((TESTS / tier).rglob("*.py")):
            for line, module in imported_modules(path):
                parts = module.split(".")
                if len(parts) > 1 and parts[0] == "tests" and parts[1] in others:
                    crossings.append(f"{path.relative_to(TESTS)}:{line} imports {module}")
    assert crossings == []
