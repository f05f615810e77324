"""The documentation lists every setting, so it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from scops.config_table import markdown, rows

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_is_current() -> None:
    """Regenerate the table with `scops.config_table.markdown()`."""
    assert markdown() in (ROOT / "README.md").read_text()


def test_env_example_lists_every_variable() -> None:
    text = (ROOT / ".env.example").read_text()
    missing = [var for var, *_ in rows() if f"# {var}=" not in text]
    assert missing == []


def test_readme_first_screen_gives_the_two_commands() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:40])
    assert "make up" in first_screen
    assert "make test" in first_screen
