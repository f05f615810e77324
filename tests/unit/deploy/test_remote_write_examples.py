"""The Prometheus remote-write examples of the README and the operator guide send metrics that
a shipped remediation rule acts on: a user following them sees remediations, not only anomalies.

The names the examples keep are expanded from their ``regex`` (literals, groups and
alternatives only), mapped as the gateway maps them (a counter becomes ``name:rate``), and
matched against the metric globs of deploy/config/remediation-rules.yaml."""

from __future__ import annotations

import importlib
import re
from fnmatch import fnmatchcase
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.gateway.remote_write_mapping import SeriesMapping

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy/config/remediation-rules.yaml"
EXAMPLES = ("README.md", "docs/operator-guide.md")


def _expand(pattern: str) -> set[str]:
    """Every name a regex of literals, groups and ``|`` fully matches."""
    # Python's own regex parser (private, stable within 3.11): read as a plain module
    parser: Any = importlib.import_module("re._parser")

    def walk(items: Any) -> set[str]:
        names = {""}
        for op, arg in items:
            if op is parser.LITERAL:
                parts = {chr(arg)}
            elif op is parser.SUBPATTERN:
                parts = walk(arg[-1])
            elif op is parser.BRANCH:
                parts = set().union(*(walk(branch) for branch in arg[1]))
            elif op is parser.IN and all(o is parser.LITERAL for o, _ in arg):
                parts = {chr(c) for _, c in arg}
            else:
                raise AssertionError(f"{pattern!r}: not a finite list of names ({op})")
            names = {a + b for a, b in product(names, parts)}
        return names

    return walk(parser.parse(pattern))


def _kept_names(doc: str) -> set[str]:
    text = (ROOT / doc).read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "remote_write:" in b]
    assert blocks, f"{doc}: no remote_write example"
    names: set[str] = set()
    for block in blocks:
        for target in yaml.safe_load(block)["remote_write"]:
            for relabel in target.get("write_relabel_configs", []):
                if relabel.get("action") == "keep" and relabel["source_labels"] == ["__name__"]:
                    names |= _expand(relabel["regex"])
    assert names, f"{doc}: the remote_write example keeps no metric by name"
    return names


def _recorded(doc: str) -> set[str]:
    """The names the doc's Prometheus rules files record."""
    text = (ROOT / doc).read_text()
    names: set[str] = set()
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        loaded = yaml.safe_load(block)
        if isinstance(loaded, dict) and "groups" in loaded:
            names |= {r["record"] for g in loaded["groups"] for r in g["rules"] if "record" in r}
    return names


def _as_sent(name: str) -> str:
    """The metric name the gateway gives the series (no metadata: by suffix)."""
    return f"{name}:rate" if name.endswith(SeriesMapping().counter_suffixes) else name


def test_the_expander_reads_the_examples_shape() -> None:
    assert _expand("node_(load1|memory)|http_total") == {"node_load1", "node_memory", "http_total"}


@pytest.mark.parametrize("doc", EXAMPLES)
def test_every_metric_a_remote_write_example_keeps_is_acted_on_by_a_shipped_rule(
    doc: str,
) -> None:
    rules = yaml.safe_load(RULES.read_text())["rules"]
    globs = {glob for rule in rules for glob in rule["match"].get("metric", [])}
    unmatched = sorted(
        name for name in _kept_names(doc) if not any(fnmatchcase(_as_sent(name), g) for g in globs)
    )
    assert not unmatched, f"{doc}: no shipped rule acts on {unmatched}"


@pytest.mark.parametrize("doc", EXAMPLES)
def test_the_metrics_an_example_keeps_are_recorded_by_the_rules_it_shows(doc: str) -> None:
    """The example is complete: what it sends exists once its rules file is loaded."""
    missing = sorted(_kept_names(doc) - _recorded(doc))
    assert not missing, f"{doc}: kept but recorded by no rule shown: {missing}"
