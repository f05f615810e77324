"""The metric names a PromQL expression reads, without a full PromQL parser.

A tokenizer is enough for the expressions we ship: it skips strings, label matchers
(``{...}``), range and subquery brackets (``[...]``), label lists after ``by``, ``without``,
``on``, ``ignoring``, ``group_left`` and ``group_right``, function and aggregation names,
keywords, numbers, durations and Grafana variables. What is left are vector selectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AGGREGATIONS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    }
)
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<variable>\$\{?\w+\}?)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:[a-zA-Z]+\d*)*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<punct>.)
    """,
    re.VERBOSE,
)


class PromQLError(ValueError):
    """An expression the tokenizer cannot follow (unbalanced brackets, a bare ``{}``)."""


@dataclass(frozen=True)
class Selector:
    """A vector selector: ``name`` and its matcher text (``{stream="metrics"}`` or ``""``)."""

    name: str
    matchers: str = ""

    def text(self) -> str:
        return self.name + self.matchers


def _tokens(expr: str) -> list[tuple[str, str]]:
    out = []
    for match in _TOKEN.finditer(expr):
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            out.append((kind, match.group()))
    return out


def _closing(tokens: list[tuple[str, str]], start: int, open_: str, close: str) -> int:
    """Index of the bracket closing the one at ``start``."""
    depth = 0
    for i in range(start, len(tokens)):
        kind, text = tokens[i]
        if kind == "punct" and text == open_:
            depth += 1
        elif kind == "punct" and text == close:
            depth -= 1
            if depth == 0:
                return i
    raise PromQLError(f"unbalanced {open_!r}")


def selectors(expr: str) -> list[Selector]:
    """Every vector selector in ``expr``, in order."""
    tokens = _tokens(expr)
    found: list[Selector] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "punct" and text == "{":
            raise PromQLError(f"selector without a metric name in {expr!r}")
        if kind == "punct" and text == "[":
            i = _closing(tokens, i, "[", "]") + 1
            continue
        if kind != "ident":
            i += 1
            continue
        word = text
        if word in LABEL_LIST_KEYWORDS:
            if nxt == ("punct", "("):
                i = _closing(tokens, i + 1, "(", ")") + 1
            else:
                i += 1
            continue
        if word in KEYWORDS or word in AGGREGATIONS or nxt == ("punct", "("):
            i += 1  # a function, an aggregation or an operator
            continue
        if nxt == ("punct", "{"):
            end = _closing(tokens, i + 1, "{", "}")
            found.append(Selector(word, _matcher_text(tokens[i + 1 : end + 1])))
            i = end + 1
            continue
        found.append(Selector(word))
        i += 1
    return found


def _matcher_text(tokens: list[tuple[str, str]]) -> str:
    text = ""
    for kind, value in tokens:
        text += value + (" " if kind == "punct" and value == "," else "")
    return text


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr)}


GRAFANA_RANGES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "${__rate_interval}": "1m",
    "${__interval}": "15s",
    "${__range}": "1h",
}


def substitute_grafana_variables(expr: str, values: dict[str, str] | None = None) -> str:
    """Grafana's built-in range variables replaced by durations, so Prometheus can run it."""
    for name, value in {**GRAFANA_RANGES, **(values or {})}.items():
        expr = expr.replace(name, value)
    if "$" in expr:
        raise PromQLError(f"unknown Grafana variable in {expr!r}")
    return expr


def series_names_of_family(name: str, kind: str) -> set[str]:
    """The series names Prometheus stores for one family of the text exposition format, whose
    ``# TYPE`` line names it ``name`` (counters already end in ``_total`` there)."""
    if kind == "counter":
        base = name.removesuffix("_total")
        return {name, f"{base}_created"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
    return {name}
