"""The ``scops backtest --prometheus`` examples of the README and the detector's guide replay a
metric a shipped remediation rule acts on, with arguments the command accepts: a user following
them sees which rule would have fired, not only anomalies of a series no rule matches."""

from __future__ import annotations

import re
import shlex
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import yaml

from scops.backtest_history import parse_duration, parse_when

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy/config/remediation-rules.yaml"
DOCS = ("README.md", "docs/detector.md")
BARE_SELECTOR = re.compile(r"(?P<name>[A-Za-z_:][\w:]*)\s*(?:\{[^{}]*\})?")


def _examples(doc: str) -> list[dict[str, str]]:
    """The options of every ``scops backtest --prometheus`` command in ``doc`` (inline or in
    a fenced block, continued over lines by a backslash or, inline, by the span)."""
    text = (ROOT / doc).read_text()
    examples = []
    for match in re.finditer(r"scops backtest --prometheus", text):
        said = text[match.start() : text.index("`", match.start())].replace("\\\n", " ")
        words = shlex.split(said)[2:]
        if "scops" in " ".join(words):  # a fenced block's next command
            words = words[: next(i for i, w in enumerate(words) if w.endswith("scops"))]
        options = dict(zip(words[::2], words[1::2], strict=False))
        assert all(key.startswith("--") for key in options), f"{doc}: {said!r}"
        examples.append(options)
    assert examples, f"{doc}: no scops backtest --prometheus example"
    return examples


def _replayed_metric(options: dict[str, str]) -> str | None:
    """The metric name the replayed series get: ``--metric``, else the name the query keeps
    (a bare selector; an expression such as ``rate(...)`` drops it)."""
    if "--metric" in options:
        return options["--metric"]
    bare = BARE_SELECTOR.fullmatch(options["--query"].strip())
    return bare.group("name") if bare else None


@pytest.mark.parametrize("doc", DOCS)
def test_a_prometheus_backtest_example_replays_a_metric_a_shipped_rule_acts_on(doc: str) -> None:
    rules = yaml.safe_load(RULES.read_text())["rules"]
    globs = {glob for rule in rules for glob in rule["match"].get("metric", [])}
    for options in _examples(doc):
        metric = _replayed_metric(options)
        assert metric is not None, f"{doc}: {options['--query']!r} names no metric (--metric)"
        matched = any(fnmatchcase(metric, glob) for glob in globs)
        assert matched, f"{doc}: no shipped rule acts on {metric}"


@pytest.mark.parametrize("doc", DOCS)
def test_a_prometheus_backtest_example_gives_times_the_command_reads(doc: str) -> None:
    for options in _examples(doc):
        assert parse_duration(options.get("--step", "60"), "--step") > 0
        start = parse_when(options["--start"], "--start", now=2e9)
        assert start < parse_when(options.get("--end", "now"), "--end", now=2e9)
