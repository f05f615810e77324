"""Slack messages about anomalies: one alert, a group of alerts, and resolutions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    PlainTextObject,
)

from services.notifier.core.alerts import Alert, GroupMeta, Resolution
from services.notifier.core.render.links import Links
from services.notifier.core.render.rendered import context, header, section, slack_payload
from services.notifier.core.render.text import (
    BLOCKS_MAX,
    CONFIRM_TEXT_MAX,
    SECTION_MAX,
    SEVERITY_EMOJI,
    clip,
    code,
    duration,
    escape,
    link,
    number,
    observed,
    slack_date,
)
from shared.events import ALERTMANAGER, RemediationStatus
from shared.mrkdwn import unescape
from shared.slack_buttons import (
    SILENCE_BUTTON_S,
    ActionId,
    AnomalyButton,
    GroupButton,
    glob_literal,
)

RESOLVED_EMOJI = ":white_check_mark:"
LINES_MAX = 40  # alert lines in a group message; the rest are counted
# Characters of the unlisted resources acted on, named in the group message's context (a
# context element holds up to 2,000 with the correlation ids and group beside them).
ACTED_NAMES_MAX = 1200
# Decisions that mean an action ran on the resource (a dry run, a refusal, a debounce, a wait
# for people or "no rule covers it" changed nothing there).
ACTED = frozenset(
    {
        RemediationStatus.RUNNING,
        RemediationStatus.SUCCEEDED,
        RemediationStatus.FAILED,
        RemediationStatus.INTERRUPTED,
        RemediationStatus.VERIFIED,
        RemediationStatus.NOT_IMPROVED,
        RemediationStatus.UNVERIFIED,
    }
)
NAME_MAX = 64


def by_severity(alerts: Sequence[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (-a.severity.rank, a.resource_id, a.metric))


NO_VALUE = "no value given"  # an alert posted without one


def _observed(alert: Alert) -> str:
    if not alert.value_given:
        return NO_VALUE
    if alert.expected_low == alert.expected_high == alert.value:
        # No band at all: an alert's word (Alertmanager's), not a sample judged against one.
        return number(alert.value)
    return observed(alert.value, alert.expected_low, alert.expected_high)


def _lasting(alert: Alert) -> str:
    if alert.resolution is not None:
        if alert.resolution.silent:
            return "no data since its last sample: closed, not recovered"
        return f"back to normal after {duration(alert.resolution.duration_s)}"
    return f"lasting {duration(alert.lasted_s)}" if alert.lasted_s >= 1 else "just started"


def _context_parts(alert: Alert, links: Links) -> list[str]:
    parts = [f"correlation {code(alert.correlation_id)} · anomaly {code(alert.anomaly_id)}"]
    if alert.detectors:
        parts.append("detectors: " + escape(", ".join(alert.detectors)))
    found = links.for_alert(alert)
    if found:
        parts.append(" · ".join(link(url, label) for label, url in found))
    return parts


def anomaly_fallback(alert: Alert) -> str:
    emoji = SEVERITY_EMOJI[alert.severity]
    text = f"{emoji} {alert.severity.value.upper()}: {alert.metric} on {alert.resource_id}: "
    text += _observed(alert)
    if alert.decision is not None:  # mrkdwn: read back, as slack_payload escapes the text
        text += f". {unescape(alert.decision.summary)}"
    return text


def anomaly_message(alert: Alert, links: Links, *, repeat: bool = False) -> dict[str, Any]:
    severity = alert.severity.value.upper()
    title = f"{SEVERITY_EMOJI[alert.severity]} {severity}: {alert.metric} on {alert.resource_id}"
    lines = [f"*{escape(_observed(alert))}* · {_lasting(alert)}"]
    lines.append(f"*Resource* {code(alert.resource_id)} · *metric* {code(alert.metric)}")
    if repeat:
        lines.append(f"_Still firing_ since {slack_date(alert.started_at)}")
    elif alert.notified_severity is not None and alert.notified_severity != alert.severity:
        lines.append(f"_Escalated_ from {alert.notified_severity.value}")
    told: list[str] = []  # what the alert says of itself: it gets what room the rest leaves
    if alert.explanation:
        told.append(f"*Why:* {escape(alert.explanation)}")
    if alert.contributing_metrics:
        told.append("*Together with:* " + escape(", ".join(alert.contributing_metrics)))
    done: list[str] = []
    if alert.decision is not None:
        done.append(f"*Decision:* {alert.decision.summary}")
    if alert.occurrences > 1:
        done.append(f"Seen {alert.occurrences} times in this episode")
    lines += _within_room(told, SECTION_MAX - len("\n".join([*lines, *done])))
    lines += done
    blocks: list[Block] = [
        header(title),
        section("\n".join(lines)),
        context(*_context_parts(alert, links)),
        ActionsBlock(block_id="anomaly_actions", elements=_anomaly_buttons(alert)),
    ]
    return slack_payload(anomaly_fallback(alert), blocks)


def _within_room(lines: list[str], room: int) -> list[str]:
    """``lines`` clipped, in order, to fit ``room`` characters with a line break before each:
    a long alert summary never pushes what was done out of the message."""
    kept: list[str] = []
    for line in lines:
        room -= 1  # its line break
        if room < 20:
            break
        kept.append(clip(line, room))
        room -= len(kept[-1])
    return kept


def _anomaly_buttons(alert: Alert) -> list[ButtonElement]:
    base = AnomalyButton(
        anomaly_id=alert.anomaly_id,
        resource_id=alert.resource_id,
        metric=alert.metric,
        severity=alert.severity,
        correlation_id=alert.correlation_id,
    )
    silence = base.model_copy(
        update={
            "silence_s": SILENCE_BUTTON_S,
            "silence": {
                "resource": glob_literal(alert.resource_id),
                "metric": glob_literal(alert.metric),
            },
        }
    )
    acknowledge = ButtonElement(
        text="Acknowledge",
        action_id=ActionId.ANOMALY_ACKNOWLEDGE.value,
        value=base.encode(),
        style="primary",
    )
    # Feedback tunes the detector's model of the series: an Alertmanager alert has none.
    false_positive = (
        []
        if ALERTMANAGER in alert.detectors  # the detector the gateway names for an alert
        else [
            ButtonElement(
                text="False positive",
                action_id=ActionId.ANOMALY_FALSE_POSITIVE.value,
                value=base.encode(),
            )
        ]
    )
    return [
        acknowledge,
        *false_positive,
        ButtonElement(
            text="Silence 1 h",
            action_id=ActionId.ANOMALY_SILENCE.value,
            value=silence.encode(),
            confirm=ConfirmObject(
                title="Silence for 1 hour?",
                text=MarkdownTextObject(
                    text=clip(
                        f"No messages about {code(alert.metric, 60)} on "
                        f"{code(alert.resource_id, 120)} for one hour.",
                        CONFIRM_TEXT_MAX,
                    )
                ),
                confirm=PlainTextObject(text="Silence"),
                deny=PlainTextObject(text="Cancel"),
            ),
        ),
    ]


def _group_title(meta: GroupMeta, count: int, noun: str) -> str:
    about = ", ".join(meta.labels[k] for k in sorted(meta.labels)) if meta.labels else "all"
    return f"{count} {noun} · {about}"


def _alert_line(alert: Alert, meta: GroupMeta) -> str:
    parts = [f"{SEVERITY_EMOJI[alert.severity]} {code(alert.resource_id, 120)}"]
    if "metric" not in meta.labels:
        parts.append(code(alert.metric, 80))
    parts.append(f"{escape(_observed(alert))}, {_lasting(alert)}")
    if alert.decision is not None:
        parts.append(f"· {alert.decision.summary}")
    return " ".join(parts)


def _packed_sections(lines: list[str], room: int) -> tuple[list[Block], int]:
    """Lines packed into as few sections as fit Slack's section limit (at most ``room``), and
    how many lines they hold."""
    blocks: list[Block] = []
    current: list[str] = []
    packed = 0
    for line in lines:
        if current and len("\n".join([*current, line])) > SECTION_MAX:
            if len(blocks) + 1 >= room:
                break
            blocks.append(section("\n".join(current)))
            packed += len(current)
            current = []
        current.append(line)
    if current and len(blocks) < room:
        blocks.append(section("\n".join(current)))
        packed += len(current)
    return blocks, packed


def group_fallback(meta: GroupMeta, alerts: Sequence[Alert]) -> str:
    top = by_severity(alerts)
    emoji = SEVERITY_EMOJI[top[0].severity]
    names = ", ".join(a.resource_id for a in top[:3])
    more = f" and {len(top) - 3} more" if len(top) > 3 else ""
    return f"{emoji} {_group_title(meta, len(top), 'anomalies')}: {names}{more}"


def group_message(
    meta: GroupMeta, alerts: Sequence[Alert], *, repeat: bool = False
) -> dict[str, Any]:
    ordered = by_severity(alerts)
    counts = Counter(a.severity for a in ordered)
    summary = ", ".join(f"{counts[s]} {s.value}" for s in sorted(counts, key=lambda s: -s.rank))
    resources = len({a.resource_id for a in ordered})
    head = f"*{summary}* on {resources} resource{'s' if resources != 1 else ''}"
    if repeat:
        head += " · _still firing_"
    # Within a severity, alerts carrying an action's outcome first: this message may be the
    # only word Slack gets of it, and lines past what fits are only counted.
    ranked = sorted(ordered, key=lambda a: (-a.severity.rank, not _acted(a), a.decision is None))
    shown = ranked[:LINES_MAX]
    lines = [_alert_line(a, meta) for a in shown]
    blocks: list[Block] = [
        header(
            f"{SEVERITY_EMOJI[ordered[0].severity]} {_group_title(meta, len(ordered), 'anomalies')}"
        ),
        section(head),
    ]
    body, listed = _packed_sections(lines, BLOCKS_MAX - 5)
    blocks += body
    correlations = ", ".join(code(c) for c in dict.fromkeys(a.correlation_id for a in ordered[:5]))
    more = f"{len(ordered) - listed} more not listed · " if listed < len(ordered) else ""
    acted = [a.resource_id for a in ranked[listed:] if _acted(a)]
    if acted:
        more += f"also acted on: {_names_within(acted, ACTED_NAMES_MAX)} · "
    blocks.append(context(f"{more}correlation {correlations} · group {code(meta.group_id)}"))
    blocks.append(ActionsBlock(block_id="group_actions", elements=_group_buttons(meta, ordered)))
    return slack_payload(group_fallback(meta, ordered), blocks)


def _acted(alert: Alert) -> bool:
    return alert.decision is not None and alert.decision.status in ACTED


def _names_within(names: Sequence[str], limit: int) -> str:
    """``names`` as code, as many as fit in ``limit`` characters, the rest counted."""
    out: list[str] = []
    used = 0
    for i, name in enumerate(names):
        piece = code(name, NAME_MAX)
        rest = len(names) - i - 1
        if used + len(piece) + (len(f" and {rest} more") if rest else 0) > limit:
            return ", ".join(out) + f" and {len(names) - i} more"
        out.append(piece)
        used += len(piece) + 2
    return ", ".join(out)


def _group_buttons(meta: GroupMeta, alerts: Sequence[Alert]) -> list[ButtonElement]:
    base = GroupButton(group_id=meta.group_id, receiver=meta.receiver, alerts=len(alerts))
    matchers: dict[str, str | list[str]] = {}
    if "resource_id" in meta.labels:
        matchers["resource"] = glob_literal(meta.labels["resource_id"])
    if "metric" in meta.labels:
        matchers["metric"] = glob_literal(meta.labels["metric"])
    if "severity" in meta.labels:
        matchers["severities"] = [meta.labels["severity"]]
    silence = base.model_copy(update={"silence_s": SILENCE_BUTTON_S, "silence": matchers})
    return [
        ButtonElement(
            text="Acknowledge all",
            action_id=ActionId.GROUP_ACKNOWLEDGE.value,
            value=base.encode(),
            style="primary",
        ),
        ButtonElement(
            text="Silence group 1 h",
            action_id=ActionId.GROUP_SILENCE.value,
            value=silence.encode(),
            confirm=ConfirmObject(
                title="Silence this group?",
                text=f"No messages about these {len(alerts)} alerts' group for one hour.",
                confirm="Silence",
                deny="Cancel",
            ),
        ),
    ]


def resolved_fallback(alerts: Sequence[Alert]) -> str:
    first = alerts[0]
    if len(alerts) == 1 and first.resolution is not None and first.resolution.silent:
        since = first.resolution.resolved_at.strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"{RESOLVED_EMOJI} NO DATA: {first.metric} on {first.resource_id} sent nothing "
            f"since {since}, while anomalous: closed, not recovered"
        )
    if len(alerts) == 1 and first.resolution is not None:
        return (
            f"{RESOLVED_EMOJI} RESOLVED: {first.metric} on {first.resource_id}, back to normal "
            f"after {duration(first.resolution.duration_s)}"
        )
    names = ", ".join(a.resource_id for a in alerts[:3])
    return (
        f"{RESOLVED_EMOJI} {len(alerts)} resolved: {names}{' and more' if len(alerts) > 3 else ''}"
    )


def resolved_message(meta: GroupMeta, alerts: Sequence[Alert], links: Links) -> dict[str, Any]:
    ordered = by_severity(alerts)
    if len(ordered) == 1:
        alert = ordered[0]
        res = alert.resolution
        assert res is not None
        if res.silent:
            return _silent_message(alert, res, links)
        # Alertmanager's resolved alert repeats the value it fired with: no measurement.
        last = (
            "resolved by Alertmanager"
            if res.source == ALERTMANAGER
            else f"last value {number(res.last_value)}"
        )
        lines = [
            f"Back to normal after *{duration(res.duration_s)}* · "
            f"peak {res.peak_severity.value} · {last}",
            f"*Resource* {code(alert.resource_id)} · *metric* {code(alert.metric)}",
            f"Started {slack_date(alert.started_at)}, resolved {slack_date(res.resolved_at)}",
        ]
        blocks: list[Block] = [
            header(f"{RESOLVED_EMOJI} RESOLVED: {alert.metric} on {alert.resource_id}"),
            section("\n".join(lines)),
            context(*_context_parts(alert, links)),
        ]
        return slack_payload(resolved_fallback(ordered), blocks)
    lines = []
    for alert in ordered[:LINES_MAX]:
        res = alert.resolution
        took = duration(res.duration_s) if res else "?"
        how = "went silent, anomalous for" if res and res.silent else "after"
        lines.append(
            f"{RESOLVED_EMOJI} {code(alert.resource_id, 120)} {code(alert.metric, 80)} {how} {took}"
        )
    blocks = [header(f"{RESOLVED_EMOJI} {_group_title(meta, len(ordered), 'resolved')}")]
    blocks += _packed_sections(lines, BLOCKS_MAX - 2)[0]
    correlations = ", ".join(code(c) for c in dict.fromkeys(a.correlation_id for a in ordered[:5]))
    blocks.append(context(f"correlation {correlations} · group {code(meta.group_id)}"))
    return slack_payload(resolved_fallback(ordered), blocks)


def _silent_message(alert: Alert, res: Resolution, links: Links) -> dict[str, Any]:
    """A series that stopped sending while anomalous: closed, and said to be, not recovered
    (the instance may be gone, or its exporter stopped)."""
    lasted = f" · anomalous for {duration(res.duration_s)} before" if res.duration_s >= 1 else ""
    lines = [
        f"*No samples since {slack_date(res.resolved_at)}*{lasted} · peak "
        f"{res.peak_severity.value} · last value {number(res.last_value)}",
        f"*Resource* {code(alert.resource_id)} · *metric* {code(alert.metric)}",
        "Closed without recovering: check whether the resource is gone or its metrics stopped.",
    ]
    blocks: list[Block] = [
        header(f"{RESOLVED_EMOJI} NO DATA: {alert.metric} on {alert.resource_id}"),
        section("\n".join(lines)),
        context(*_context_parts(alert, links)),
    ]
    return slack_payload(resolved_fallback([alert]), blocks)
