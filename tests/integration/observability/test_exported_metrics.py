"""What the dashboards, the Prometheus rules and the README promise about metrics is what the
running services export. A metric renamed or removed in a service fails here, not on an
operator's empty panel."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.integration.observability.conftest import ObservedStack
from tests.support.exposition import Family, series_names
from tests.support.observability_files import (
    ROOT,
    dashboard_queries,
    exported_names_needed,
    recording_rules,
    rule_queries,
)
from tests.support.processes import SERVICES

README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- metrics-table:start -->", "<!-- metrics-table:end -->"
# Families every Python process exports (prometheus_client's default collectors): listed in
# the README as one row each per prefix.
STANDARD_PREFIXES = ("process_", "python_")


def _exported(stack: ObservedStack) -> set[str]:
    names: set[str] = set()
    for families in stack.scraped.values():
        names |= series_names(families)
    return names


def test_every_metric_a_dashboard_or_rule_reads_is_exported(observed: ObservedStack) -> None:
    exported = _exported(observed)
    recording = recording_rules()
    missing = {
        f"{query.where}: {name}"
        for query in [*dashboard_queries(), *rule_queries()]
        for name in exported_names_needed(query.expr, recording)
        if name not in exported
    }
    assert not missing, "queried but not exported:\n" + "\n".join(sorted(missing))


def _readme_rows(path: Path) -> dict[str, tuple[str, set[str], set[str]]]:
    """name -> (type, labels, services) from the README's metrics table."""
    text = path.read_text()
    table = text[text.index(TABLE_START) : text.index(TABLE_END)]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`")
        labels = set(re.findall(r"[a-z_]+", cells[2]))
        services = {s.strip() for s in cells[3].split(",")}
        rows[name] = (cells[1], labels, {"all"} if services == {"all"} else services)
    return rows


def _families(stack: ObservedStack) -> dict[str, tuple[Family, set[str]]]:
    """Scraped families (standard collectors left out) with the services exporting them."""
    merged: dict[str, tuple[Family, set[str]]] = {}
    for service, families in stack.scraped.items():
        for name, family in families.items():
            if name.startswith(STANDARD_PREFIXES):
                continue
            if name in merged:
                merged[name][0].labels |= family.labels
                merged[name][0].samples += family.samples
                merged[name][1].add(service)
            else:
                merged[name] = (
                    Family(name, family.kind, set(family.labels), family.samples),
                    {service},
                )
    return merged


def test_readme_metrics_table_is_what_the_services_export(observed: ObservedStack) -> None:
    rows = _readme_rows(README)
    families = _families(observed)
    assert {f"{p}*" for p in STANDARD_PREFIXES} <= set(rows), "standard collector rows missing"
    listed = {name for name in rows if not name.endswith("*")}
    assert sorted(set(families) - listed) == [], "exported but not in the README's table"
    assert sorted(listed - set(families)) == [], "in the README's table but not exported"
    every = set(observed.scraped) - {"worker"}  # "all" means every service
    for name, (family, services) in families.items():
        kind, labels, where = rows[name]
        assert kind == family.kind, (name, kind, family.kind)
        assert (where if where != {"all"} else every) == services, (name, where, services)
        if family.samples:  # label names are known only from samples
            assert labels == family.labels, (name, labels, family.labels)


_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _series(stack: ObservedStack, service: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of series ``name`` on ``service``'s /metrics now: labels and value."""
    found = []
    for line in httpx.get(f"{stack.url(service)}/metrics").text.splitlines():
        head, _, value = line.rpartition(" ")
        series, _, labels = head.partition("{")
        if series == name:
            found.append((dict(_LABEL_PAIR.findall(labels)), float(value)))
    return found


def _total(stack: ObservedStack, service: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` that carry ``labels``."""
    return sum(v for have, v in _series(stack, service, name) if labels.items() <= have.items())


def _label_values(stack: ObservedStack, service: str, name: str, label: str) -> set[str]:
    """Values of ``label`` on samples above zero: label values set up at zero do not count."""
    return {have[label] for have, v in _series(stack, service, name) if v > 0 and label in have}


def test_the_traffic_reached_every_stage(observed: ObservedStack) -> None:
    """The scrape the other tests judge has samples from each stage of the pipeline and each
    kind of outcome, so that "no data" on a panel would be a finding, not a quiet stack."""
    latency = "scops_pipeline_latency_seconds_count"
    for service, name, labels in [
        ("gateway", "scops_samples_ingested_total", {}),
        ("gateway", "scops_events_reclaimed_total", {}),
        ("detector", "ml_anomalies_detected_total", {}),
        ("detector", "ml_training_runs_total", {}),
        ("detector", latency, {"stage": "anomaly"}),
        ("remediator", latency, {"stage": "decision"}),
        ("remediator", "remediation_failure_total", {}),
        ("remediator", "remediation_action_duration_seconds_count", {}),
        ("remediator", "remediation_cooldowns_active", {}),
        ("notifier", latency, {"stage": "notified"}),
        ("notifier", "notifications_sent_total", {}),
        ("notifier", "notifications_failed_total", {}),
    ]:
        assert _total(observed, service, name, **labels) > 0, (service, name, labels)
    statuses = _label_values(observed, "remediator", "remediation_actions_total", "status")
    assert {"succeeded", "failed", "blocked"} <= statuses
    refusals = _label_values(observed, "remediator", "remediation_blocked_total", "rule")
    assert {"maintenance", "rate_limit"} <= refusals
    assert refusals & {"cooldown", "lock"}


def test_the_gauges_say_what_the_traffic_left(observed: ObservedStack) -> None:
    # Two actions ran (one succeeded, one failed): the hour's budget of 2 is spent, and one
    # failure leaves the breaker (3 failures) closed.
    assert _total(observed, "remediator", "remediation_actions_hour_used") == 2
    assert _total(observed, "remediator", "remediation_rate_limit_per_hour") == 2
    assert _total(observed, "remediator", "remediation_breaker_open") == 0
    models = {have["kind"] for have, v in _series(observed, "detector", "ml_model_info") if v}
    assert models == {"streaming", "multivariate"}
    for service in SERVICES:
        assert _total(observed, service, "scops_stream_maxlen") == 1_000_000, service
