"""The shipped observability files (dashboards, Prometheus rules) and the queries in them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.promql import metric_names

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
RULES = DEPLOY / "prometheus" / "rules"

# Series Prometheus itself writes for every target; the services do not export them.
SYNTHETIC_SERIES = frozenset({"up"})


@dataclass(frozen=True)
class Query:
    where: str  # "dashboard.json: panel title" or "rules.yml: alert Name"
    expr: str


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_queries() -> list[Query]:
    return [
        Query(f"{name}: {panel.get('title')}", target["expr"])
        for name, dashboard in dashboards().items()
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def rule_files() -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(RULES.glob("*.yml"))}


def rules() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, rule)
        for name, content in rule_files().items()
        for group in content["groups"]
        for rule in group["rules"]
    ]


def recording_rules() -> dict[str, str]:
    return {rule["record"]: rule["expr"] for _, rule in rules() if "record" in rule}


def alert_rules() -> list[dict[str, Any]]:
    return [rule for _, rule in rules() if "alert" in rule]


def rule_queries() -> list[Query]:
    return [
        Query(f"{name}: {rule.get('alert') or rule.get('record')}", rule["expr"])
        for name, rule in rules()
    ]


def exported_names_needed(expr: str, recording: dict[str, str]) -> set[str]:
    """The series names ``expr`` reads from the services: recording rules are followed down
    to what they read, Prometheus' own series are left out."""
    needed: set[str] = set()
    for name in metric_names(expr):
        if name in recording:
            needed |= exported_names_needed(recording[name], recording)
        elif name not in SYNTHETIC_SERIES:
            needed.add(name)
    return needed


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors of a Markdown text."""
    found = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif line.startswith("#") and not in_code:
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found
