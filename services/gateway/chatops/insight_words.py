"""The words of :mod:`.insights`' answers, from the services' JSON (no I/O). A field a service
does not send is left out rather than guessed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from services.gateway.approval_subjects import action_on_target
from services.gateway.chatops.answers import anomaly_line, decisions, is_open, when
from services.gateway.chatops.durations import describe_duration, say_span
from services.gateway.chatops.extraction import PERIODS
from shared.readable_numbers import numbers_apart, value_and_band

TOP_LISTED = 20
# What each detector name in an anomaly means, for people. The names are the ones the detector
# emits (its sub-detectors, ``hard_limit``, the multivariate ``isolation_forest``) and the
# gateway's ``alertmanager``; ``spike``, ``zscore`` and ``multivariate`` are older names still
# found in stored anomalies.
DETECTOR_WORDS = {
    "out_of_range": "beyond anything seen before on this series",
    "level_shift": "a sudden shift from its recent level",
    "novelty": "a sequence of values not seen before",
    "seasonal": "unusual for this time of day or of the week",
    "pattern": "a shape over the last samples not seen before",
    "stuck": "the same value repeated for longer than ever before",
    "hard_limit": "past a fixed limit set in the detector's configuration",
    "isolation_forest": "an unusual combination of this resource's metrics",
    "alertmanager": "an alert from Alertmanager",
    "spike": "a sudden spike",
    "zscore": "far from its recent mean",
    "multivariate": "an unusual combination of metrics",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _seconds_to(value: Any, now: datetime) -> float:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (moment - now).total_seconds()


def approvals(items: list[dict[str, Any]], mine: bool, now: datetime) -> str:
    whose = "you asked for" if mine else "pending"
    if not items:
        return "No approval you asked for is pending." if mine else "Nothing waits for approval."
    lines = [f"*{len(items)} approval{'s' if len(items) != 1 else ''} {whose}:*"]
    for item in items[:TOP_LISTED]:
        request = _dict(item.get("request"))
        left = describe_duration(max(_seconds_to(item.get("expires_at"), now), 0))
        approvers = item.get("approvers") or []
        parts = [
            f"• `{str(item.get('id', ''))[:8]}` {action_on_target(request)}",
            f" ({len(approvers)} of {item.get('required', 1)} approvals, expires in {left})",
        ]
        if request.get("rule"):
            parts.append(f", rule `{request['rule']}`")
        if request.get("requested_by"):  # a rule's: whose key sent what it acted on
            asked = "data sent by" if request.get("rule") else "asked by"
            parts.append(f", {asked} {request['requested_by']}")
        why = str(item.get("why") or request.get("reason") or "").strip()
        if why:
            parts.append(f" — {why[:200]}")
        lines.append("".join(parts))
    lines.append("Decide with `approve <id>` or `reject <id> because ...` (operators).")
    return "\n".join(lines)


def safety(data: dict[str, Any]) -> str:
    safety_ = _dict(data.get("safety"))
    breaker = _dict(safety_.get("breaker"))
    lines = ["*Safety state*"]
    if breaker.get("open"):
        why = f": {breaker['reason']}" if breaker.get("reason") else ""
        lines.append(
            f"• circuit breaker *open*{why} — automatic actions are stopped until an admin "
            "says `reset the breaker`"
        )
    else:
        lines.append("• circuit breaker closed: automatic actions may run")
    dry = data.get("dry_run")
    if dry:
        lines.append("• dry-run *on*: actions are recorded, nothing is changed")
    elif data.get("executor") == "dry-run":  # SCOPS_DRY_RUN off, but no AWS to act with
        lines.append(
            "• dry-run off, but the executor is *dry-run* (no AWS configured): actions are "
            "recorded, nothing is changed"
        )
    elif dry is not None:
        lines.append("• dry-run off: actions change things")
    if "actions_this_hour" in safety_:
        lines.append(
            f"• {safety_['actions_this_hour']} of {safety_.get('rate_limit_per_hour', '?')} "
            "actions used this hour"
        )
    cooldowns = safety_.get("active_cooldowns") or []
    if cooldowns:
        lines.append(f"• cooling down: {', '.join(str(c) for c in cooldowns[:10])}")
    windows = data.get("maintenance_windows") or []
    for window in windows[:10]:
        lines.append(
            f"• maintenance on `{window.get('target_pattern')}` until "
            f"{when(window.get('ends_at'))}"
            + (f" ({window['reason']})" if window.get("reason") else "")
        )
    auto = data.get("auto_approval")
    if isinstance(auto, dict) and "enabled" in auto:
        lines.append("• auto-approval " + ("*on*" if auto["enabled"] else "off"))
    return "\n".join(lines)


def _rule_line(rule: dict[str, Any]) -> str:
    actions = [str(a.get("action")) for a in rule.get("actions", []) if isinstance(a, dict)]
    mode = rule.get("effective_mode") or rule.get("mode") or "?"
    auto = " (put in shadow automatically)" if rule.get("auto_shadow") else ""
    does = f": {', '.join(actions)}" if actions else ""
    return f"• `{rule.get('name')}` — *{mode}*{auto}{does}"


def rules(document: dict[str, Any]) -> str:
    listed = [r for r in document.get("rules", []) if isinstance(r, dict)]
    shadow = [str(r.get("name")) for r in listed if r.get("effective_mode") == "shadow"]
    head = f"*{len(listed)} rules in force* (version {document.get('version', '?')})"
    head += (
        f"; in shadow (decide, never act): {', '.join(shadow)}." if shadow else "; none in shadow."
    )
    lines = [head, *[_rule_line(r) for r in listed[:TOP_LISTED]]]
    if document.get("last_error"):
        lines.append(f"Last reload refused: {document['last_error']}")
    return "\n".join(lines)


def one_rule(rule: dict[str, Any]) -> str:
    lines = [_rule_line(rule)]
    if rule.get("description"):
        lines.append(str(rule["description"]).strip()[:300])
    match = rule.get("match")
    if isinstance(match, dict) and match:
        lines.append("Matches: " + "; ".join(_condition(k, v) for k, v in match.items() if v))
    auto = rule.get("auto_shadow")
    if isinstance(auto, dict):
        reason = auto.get("reason") or auto.get("why") or ""
        lines.append(f"In shadow automatically since {when(auto.get('at'))} {reason}".strip())
        lines.append(f"An admin can say `unshadow rule {rule.get('name')}`.")
    return "\n".join(lines)


def _condition(name: str, value: Any) -> str:
    """One of a rule's match conditions in words, names and globs as code (``*`` and ``_``
    are not mrkdwn there): ``metric `cpu_utilization`, `cpu_*```."""
    if isinstance(value, dict):
        said = ", ".join(f"`{k}={v}`" for k, v in value.items())
    elif isinstance(value, list | tuple):
        said = ", ".join(f"`{v}`" for v in value)
    else:
        said = str(value)
    return f"{name.replace('_', ' ')} {said}"


def incident_as_anomaly(incident: dict[str, Any]) -> dict[str, Any]:
    """A history incident in the anomaly index's shape (what summaries count)."""
    return {
        "event_id": incident.get("id"),
        "resource_id": incident.get("resource_id"),
        "metric": incident.get("metric"),
        "severity": incident.get("severity"),
        "resolved_at": incident.get("resolved_at"),
        "action": incident.get("action"),
        "action_outcome": incident.get("action_outcome"),
    }


def _period(window_s: int) -> str:
    for name, seconds in PERIODS.items():
        if seconds == window_s and name == "overnight":
            return "overnight (the last 12 hours)"
    return f"in the last {say_span(window_s)}"


def summary(
    window_s: int,
    anomalies: list[dict[str, Any]],
    records: list[dict[str, Any]],
    source: str,
    more: tuple[bool, bool] = (False, False),
) -> str:
    """``more``: there were more anomalies, and more records, than were read (the counts are
    then at least these)."""
    runs = decisions(records)
    plus_anomalies, plus_records = ("+" if m else "" for m in more)
    still_open = sum(1 for a in anomalies if is_open(a))
    severities = Counter(str(a.get("severity")) for a in anomalies)
    by_severity = ", ".join(
        f"{severities[s]} {s}" for s in ("critical", "high", "medium", "low") if severities[s]
    )
    where = Counter(str(a.get("resource_id")) for a in anomalies).most_common(3)
    lines = [f"*Summary {_period(window_s)}*"]
    noun = "incident" if source == "history" else "anomaly"
    if len(anomalies) != 1 or plus_anomalies:
        noun = "incidents" if noun == "incident" else "anomalies"
    lines.append(
        f"• {len(anomalies)}{plus_anomalies} {noun}"
        + (f" ({by_severity})" if by_severity else "")
        + f", {still_open}{plus_anomalies} still open"
        + (f"; most on {', '.join(f'{r} ({n})' for r, n in where)}" if where else "")
    )
    statuses = Counter(str(r.get("status")) for r in runs)
    if runs:
        listed = ", ".join(f"{n} {s}" for s, n in statuses.most_common())
        decided = "decision" if len(runs) == 1 and not plus_records else "decisions"
        lines.append(f"• {len(runs)}{plus_records} remediation {decided}: {listed}")
    else:
        lines.append("• no remediation decisions")
    lines.extend(_latest_kinds(runs))
    return "\n".join(lines)


def _latest_kinds(runs: list[dict[str, Any]], shown: int = 5) -> list[str]:
    """The newest ``shown`` kinds of decision (action, target, outcome), each once with how
    often it came in the window: a rule answering every sample of a series repeats one
    decision, and five identical lines would hide everything else."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    counts: Counter[tuple[str, str, str]] = Counter()
    for record in runs:
        action = str(record.get("action") or "")
        target = str(record.get("target") or record.get("resource_id"))
        key = (action, target, str(record.get("status")))
        if key in latest or len(latest) < shown:
            latest.setdefault(key, record)
            counts[key] += 1
    lines = []
    for key, record in latest.items():
        action, target, status = key
        what = f"`{action}` on {target}: *{status}*" if action else f"no action on {target}"
        again = f" ({counts[key]} times, the latest then)" if counts[key] > 1 else ""
        lines.append(f"  ◦ {when(record.get('occurred_at'))} {what}{again}")
    return lines


def noisiest(
    items: list[dict[str, Any]], window_s: int, top: int, more: bool = False
) -> tuple[str, dict[str, Any]]:
    span = say_span(window_s)
    if not items:
        return f"No anomalies in the last {span}: nothing is noisy.", {
            "resources": [],
            "metrics": [],
        }
    resources = Counter(str(i.get("resource_id")) for i in items).most_common(top)
    metrics = Counter(str(i.get("metric")) for i in items).most_common(top)
    series = Counter(f"{i.get('metric')} on {i.get('resource_id')}" for i in items).most_common(top)
    plus = "+" if more else ""
    lines = [f"*Noisiest in the last {span}* ({len(items)}{plus} anomalies)"]
    lines.append("Resources: " + ", ".join(f"{r} ({n})" for r, n in resources))
    lines.append("Metrics: " + ", ".join(f"`{m}` ({n})" for m, n in metrics))
    lines.append("Series: " + ", ".join(f"`{s}` ({n})" for s, n in series))
    return "\n".join(lines), {
        "resources": [r for r, _ in resources],
        "metrics": [m for m, _ in metrics],
    }


def explanation(item: dict[str, Any], runs: list[dict[str, Any]], now: datetime) -> str:
    lines = [f"*Anomaly `{str(item.get('event_id', ''))[:8]}`*", anomaly_line(item, now)]
    low, high = item.get("expected_low"), item.get("expected_high")
    if low is not None and high is not None and low != high:
        value = item.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            shown_value, shown_low, shown_high = value_and_band(value, low, high)
        else:
            (shown_low, shown_high), shown_value = numbers_apart(low, high), str(value)
        lines.append(f"Expected band: {shown_low} to {shown_high}; seen {shown_value}.")
    if item.get("score") is not None:
        lines.append(f"Score {float(item['score']):.2f}, model {item.get('model_version', '?')}.")
    detectors = [str(d) for d in item.get("detectors") or []]
    if detectors:
        said = [f"{d} ({DETECTOR_WORDS[d]})" if d in DETECTOR_WORDS else d for d in detectors]
        lines.append("Detectors: " + "; ".join(said))
    if item.get("contributing_metrics"):
        lines.append("Also unusual: " + ", ".join(f"`{m}`" for m in item["contributing_metrics"]))
    if item.get("explanation"):
        lines.append(f"Why: {str(item['explanation']).strip()[:400]}")
    if runs:
        lines.append("Decided:")
        for record in runs[:5]:
            reason = str(record.get("reason") or "").strip()[:200]
            lines.append(
                f"• `{record.get('action') or 'no action'}`: *{record.get('status')}*"
                + (f" — {reason}" if reason else "")
            )
    else:
        lines.append("Decided: nothing recorded by the remediator for this anomaly.")
    return "\n".join(lines)
