"""Rules files refused with the line, never loaded otherwise: aliases (a value that contains
itself; a few hundred bytes nesting into billions of values) and a key given twice (YAML keeps
the last one silently)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.rules.loading import load_rules_text
from services.remediator.errors import RulesFileError

ROOT = Path(__file__).resolve().parents[5]


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nrules: &a [*a]\n",  # a sequence that contains itself
        "version: 1\npolicy: &p {x: *p}\nrules: []\n",  # a mapping that contains itself
    ],
)
def test_a_rules_file_with_an_alias_cycle_is_refused_as_a_rules_file_error(
    registry: ActionRegistry, text: str
) -> None:
    # Today: RecursionError from yaml_source._walk; POST /rules/reload answers 500, the refusal
    # is not in the admin log, and at start-up the service dies with a traceback.
    with pytest.raises(RulesFileError):
        load_rules_text(text, "rules.yaml", registry)


BOMB = "\n".join(
    ["version: 1", "rules: []", "x:", "  a0: &a0 [x, x]"]
    + [f"  a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 40)]
)


def test_a_600_byte_alias_bomb_is_refused_quickly() -> None:
    # 40 lines, ~600 bytes. yaml.safe_load shares the aliased objects (fast), but
    # yaml_source._walk visits every path through them: 2**40 nodes and as many dict entries.
    assert len(BOMB) < 1000
    code = (
        "from services.remediator.core.rules.loading import load_rules_text\n"
        "from services.remediator.core.actions.registry import build_registry\n"
        "from services.remediator.core.actions.catalogue import load_catalogue\n"
        "from tests.support.remediator_fixtures import CATALOGUE\n"
        "from services.remediator.errors import RulesFileError\n"
        "try:\n"
        f"    load_rules_text({BOMB!r}, 'rules.yaml', build_registry(load_catalogue(CATALOGUE)))\n"
        "except RulesFileError:\n"
        "    pass\n"
    )
    try:
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=5, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("a 600-byte rules file kept the loader busy for more than 5 s")


SAFE_THEN_AUTO = """\
version: 1
rules:
  - name: scale-in-idle
    match: {metric: cpu_*}
    approval: required
    actions:
      - action: scale_in
        target: {auto_scaling_group: "{label:asg}"}
    approval: auto
"""


def test_a_duplicate_key_is_refused_not_silently_the_last_one(registry: ActionRegistry) -> None:
    # A reviewer reading the rule sees `approval: required`; the loader keeps the later
    # `approval: auto` and the high-risk scale-in runs without anyone approving it.
    with pytest.raises(RulesFileError) as refused:
        load_rules_text(SAFE_THEN_AUTO, "rules.yaml", registry)
    assert "rules[0].approval" in str(refused.value) and "also on line 5" in str(refused.value)
