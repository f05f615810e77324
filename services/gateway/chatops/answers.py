"""The words of ChatOps answers, built from the services' own data (no I/O).

Text uses the subset of markup Slack and most chat clients read: ``*bold*`` and backticks.
Inputs are the services' JSON documents; a field a service does not (yet) send is left out
rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from services.gateway.chatops.durations import describe_duration, say_span
from services.gateway.chatops.intents import ActionName
from shared.events import ApprovalVote, Severity
from shared.readable_numbers import number, value_and_band

LIST_MAX = 15

HELP = """I answer from the system's own data, in your words (typos and shorthand are fine). Try:
• `status`: detector, remediator and notifier at a glance
• `what's wrong with web-1?`: its recent anomalies, open and resolved
• `anomalies in the last hour` (or `critical anomalies on web-1 in the last 2 days`)
• `anomalies since 9am` (or `since yesterday`, `since Monday`; times are UTC)
• `what happened overnight` / `how many actions today`: a summary of a period
• `noisiest in the last day`: the resources and metrics that alert most
• `explain anomaly 6b1f` (or `explain cpu_utilization on web-1`): band, detectors, decision
• `why was web-1 restarted?` (or `what happened to web-1?`): the remediator's audit log
• `pending approvals` (or `my pending approvals`), `safety state` (breaker, dry-run), `rules` \
(which are in shadow)
• `restart nginx on web-1` (also `scale out web-asg by 2`, `clean up disk on web-1`, \
`run drop-page-cache on web-1`; add `in dry run` or `because ...`): operators only; every \
safety check and approval applies
• `approve 4f1c09ab` / `reject 4f1c09ab because ...`: a pending approval, by its id or \
its first 8 characters or more
• `silence web-1 for 2h`, `maintenance on web-* for 2h because patching` (operators)
• `reset the breaker`, `reload rules`, `unshadow rule idle` (admins)
An action said in other words is not run: I answer with the exact command to send \
(or say `yes`)."""


def when(value: str | None) -> str:
    if not value:
        return "?"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _number(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(float(value))
    return str(value)


def _floats(value: Any, low: Any, high: Any) -> tuple[float, float, float] | None:
    """A value and its band's edges as numbers; None when one of them is not a number."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in (value, low, high)):
        return float(value), float(low), float(high)
    return None


def _seconds_since(value: str | None, now: datetime) -> float:
    if not value:
        return 0.0
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max((now - moment).total_seconds(), 0.0)


def is_open(item: dict[str, Any]) -> bool:
    return not item.get("resolved_at")


def episodes(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per anomaly episode (escalations repeat an episode), newest event kept."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for item in items:
        key = (
            str(item.get("resource_id")),
            str(item.get("metric")),
            str(item.get("episode_started_at") or item.get("event_id")),
        )
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def anomaly_line(item: dict[str, Any], now: datetime, *, with_resource: bool = True) -> str:
    severity = str(item.get("severity", "?")).upper()
    where = f" on {item.get('resource_id')}" if with_resource else ""
    value = item.get("value")
    low, high = item.get("expected_low"), item.get("expected_high")
    observed = f" = {_number(value)}" if value is not None else ""
    if item.get("value_given") is False:  # an alert posted without a value
        observed = " (no value given)"
    elif (numbers := _floats(value, low, high)) is not None and not low == high == value:
        shown_value, shown_low, shown_high = value_and_band(*numbers)
        observed = f" = {shown_value} (expected {shown_low} to {shown_high})"
    elif low is not None and high is not None and not low == high == value:
        observed += f" (expected {_number(low)} to {_number(high)})"
    started = item.get("episode_started_at") or item.get("observed_at")
    if is_open(item):
        state = f"open for {describe_duration(_seconds_since(started, now))}"
    else:
        state = f"resolved after {describe_duration(float(item.get('duration_s') or 0))}"
    explanation = str(item.get("explanation") or "").strip()
    why = f" — {explanation[:200]}" if explanation else ""
    anomaly_id = str(item.get("event_id", ""))[:8]
    return (
        f"• *{severity}* `{item.get('metric')}`{where}{observed} since {when(started)}, {state}"
        f"{why} · id `{anomaly_id}`"
    )


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= LIST_MAX:
        return lines
    return [*lines[:LIST_MAX], f"…and {len(lines) - LIST_MAX} more"]


def resource_health(
    resource: str, items: list[dict[str, Any]], window_s: int, now: datetime, more: bool = False
) -> str:
    """``more``: the day held more anomalies than ``items`` (the counts are at least these)."""
    found = episodes(items)
    plus = "+" if more else ""
    span = say_span(window_s)
    if not found:
        return f"Nothing is wrong with {resource} that I know of: no anomalies in the last {span}."
    open_ = [i for i in found if is_open(i)]
    resolved = [i for i in found if not is_open(i)]
    worst = max((Severity(i["severity"]) for i in open_), key=lambda s: s.rank, default=None)
    if open_:
        head = (
            f"*{resource}* has {len(open_)} open anomal{'y' if len(open_) == 1 else 'ies'} "
            f"(worst: {worst}) and {len(resolved)}{plus} resolved in the last {span}."
        )
    elif more:
        head = (
            f"*{resource}* has no open anomaly among its latest {len(found)}; "
            f"{len(resolved)}{plus} resolved in the last {span}."
        )
    else:
        head = f"*{resource}* has no open anomaly; {len(resolved)} resolved in the last {span}."
    lines = [head]
    if open_:
        lines += ["*Open:*", *_listed([anomaly_line(i, now, with_resource=False) for i in open_])]
    if resolved:
        lines += [
            "*Resolved:*",
            *_listed([anomaly_line(i, now, with_resource=False) for i in resolved]),
        ]
    return "\n".join(lines)


def recent_anomalies(
    items: list[dict[str, Any]],
    window_s: int,
    resource: str | None,
    min_severity: Severity | None,
    now: datetime,
    truncated: bool,
) -> str:
    found = episodes(items)
    noun = "anomaly" if len(found) == 1 and not truncated else "anomalies"
    what = f"{min_severity} or worse {noun}" if min_severity else noun
    where = f" on {resource}" if resource else ""
    span = say_span(window_s)
    if not found:
        return f"No {what}{where} in the last {span}."
    still_open = sum(1 for i in found if is_open(i))
    more = "+" if truncated else ""
    head = f"{len(found)}{more} {what}{where} in the last {span} ({still_open} still open):"
    return "\n".join([head, *_listed([anomaly_line(i, now) for i in found])])


def record_line(record: dict[str, Any]) -> str:
    status = str(record.get("status", "?"))
    action = record.get("action") or "no action"
    target = record.get("target") or record.get("resource_id")
    parts = [f"• {when(record.get('occurred_at'))}: `{action}` on {target}: *{status}*"]
    if record.get("blocked_by"):
        parts.append(f" by `{record['blocked_by']}`")
    who = []
    if record.get("rule"):
        who.append(f"rule `{record['rule']}`")
    who.extend(voters(record))
    if record.get("decided_by") and not record.get("votes"):  # records before 1.5
        who.append(f"decided by {record['decided_by']}")
    if who:
        parts.append(f" ({', '.join(who)})")
    reason = str(record.get("reason") or "").strip()
    if reason:
        parts.append(f" — {reason[:300]}")
    return "".join(parts)


def voters(record: dict[str, Any]) -> list[str]:
    """``approved by ana via API key at ..., ben via Slack at ...`` (and who rejected), from
    a record's votes (records 1.5 on); nothing for a record without them."""
    votes = []
    for raw in record.get("votes") or []:
        try:
            votes.append(ApprovalVote.model_validate(raw))
        except ValidationError:
            continue
    said = []
    for decision in ("approved", "rejected"):
        named = [v.described() for v in votes if v.decision == decision]
        if named:
            said.append(f"{decision} by {', '.join(named)}")
    return said


def decisions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest record of each run (a run records running, then succeeded or failed)."""
    seen: set[str] = set()
    kept = []
    for record in records:
        key = str(record.get("run_id") or record.get("event_id"))
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


def action_history(resource: str, action: ActionName | None, records: list[dict[str, Any]]) -> str:
    what = f"`{action}`" if action else "remediation decision"
    found = decisions(records)
    if not found:
        return f"The remediator's audit log has no {what} for {resource}."
    latest = found[0]
    anomaly = str(latest.get("anomaly_explanation") or "").strip()
    head = (
        f"Latest {what} for *{resource}*: *{latest.get('status')}* at "
        f"{when(latest.get('occurred_at'))} because: {latest.get('reason', '?')}"
    )
    if anomaly and anomaly not in str(latest.get("reason", "")):
        head += f" (anomaly: {anomaly[:200]})"
    said = voters(latest)
    if said and latest.get("status") not in ("approved", "rejected", "expired"):
        head += f"; {'; '.join(said)}"  # the reason of those three says it already
    lines = [head]
    if len(found) > 1:
        lines += ["Earlier:", *_listed([record_line(r) for r in found[1:]])]
    return "\n".join(lines)


def detector_status(data: dict[str, Any]) -> str:
    parts = []
    if "series_tracked" in data:
        parts.append(f"{data['series_tracked']} series tracked")
    if data.get("series_warming_up"):
        parts.append(f"{data['series_warming_up']} warming up")
    if "samples_scored" in data:
        parts.append(f"{data['samples_scored']} samples scored")
    if data.get("multivariate_model"):
        parts.append(f"multivariate model {data['multivariate_model']}")
    return ", ".join(parts) or "up"


def remediator_status(data: dict[str, Any]) -> str:
    parts = []
    if "executor" in data:
        dry = " (dry-run on)" if data.get("dry_run") else ""
        parts.append(f"executor {data['executor']}{dry}")
    rules = data.get("rules")
    if isinstance(rules, dict) and "count" in rules:
        parts.append(f"{rules['count']} rules")
        if rules.get("last_error"):
            parts.append(f"last rules reload refused: {rules['last_error']}")
    if "pending_approvals" in data:
        parts.append(f"{data['pending_approvals']} pending approval(s)")
    safety = data.get("safety")
    if isinstance(safety, dict):
        if "actions_this_hour" in safety:
            limit = safety.get("rate_limit_per_hour", "?")
            parts.append(f"{safety['actions_this_hour']} of {limit} actions this hour")
        breaker = safety.get("breaker")
        if isinstance(breaker, dict):
            parts.append("breaker *open*" if breaker.get("open") else "breaker closed")
    windows = data.get("maintenance_windows")
    if windows:
        parts.append(f"{len(windows)} maintenance window(s) active")
    return ", ".join(parts) or "up"


def anomaly_summary(items: list[dict[str, Any]], more: bool = False) -> str:
    """``more``: the hour held more anomalies than ``items`` (the counts are at least these)."""
    found = episodes(items)
    if not found:
        return "none in the last hour"
    open_ = [i for i in found if is_open(i)]
    worst = max((Severity(i["severity"]) for i in open_), key=lambda s: s.rank, default=None)
    plus = "+" if more else ""
    summary = f"{len(found)}{plus} in the last hour, {len(open_)}{plus} still open"
    return summary + (f" (worst: {worst})" if worst else "")
