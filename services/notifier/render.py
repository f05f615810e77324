"""Slack messages built from Block Kit models (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from shared.events import RemediationRecord, RemediationStatus, Severity

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:",
    Severity.NORMAL: ":white_circle:",
}
HEADER_MAX = 150  # Slack's limit for a header's text
SECTION_MAX = 3000  # Slack's limit for a section's text


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    text: str  # the notification fallback: what a phone's lock screen shows
    blocks: list[dict[str, Any]]

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decision(record: RemediationRecord) -> str:
    action = record.action or "no action"
    match record.status:
        case RemediationStatus.DRY_RUN:
            return f"Dry run: would run `{action}` on `{record.resource_id}`"
        case RemediationStatus.NO_ACTION:
            return f"No action: {record.reason}"
        case RemediationStatus.SUCCEEDED:
            return f"Ran `{action}` on `{record.resource_id}`: succeeded"
        case RemediationStatus.FAILED:
            return f"`{action}` on `{record.resource_id}` failed: {record.reason}"
        case RemediationStatus.BLOCKED:
            return f"`{action}` blocked by {record.blocked_by or 'a safety rule'}: {record.reason}"
        case _:
            return f"`{action}`: {record.status.value.replace('_', ' ')} ({record.reason})"


def render_record(record: RemediationRecord) -> Message:
    """One message per remediation decision: what was seen, and what was done about it."""
    emoji = SEVERITY_EMOJI[record.severity]
    severity = record.severity.value.upper()
    headline = f"{severity}: {record.metric} on {record.resource_id}"
    observed = ""
    if record.anomaly_value is not None:
        observed = f"{record.anomaly_value:g}"
        if record.expected_low is not None and record.expected_high is not None:
            observed += f" (expected {record.expected_low:.3g} to {record.expected_high:.3g})"
    decision = _decision(record)
    lines = [f"*Observed:* {observed}"] if observed else []
    if record.anomaly_explanation:
        lines.append(f"*Why:* {record.anomaly_explanation}")
    lines.append(f"*Decision:* {decision}")
    blocks = [
        HeaderBlock(text=_clip(f"{severity} {record.resource_id}", HEADER_MAX)),
        SectionBlock(text=MarkdownTextObject(text=_clip(f"{emoji} *{headline}*", SECTION_MAX))),
        SectionBlock(text=MarkdownTextObject(text=_clip("\n".join(lines), SECTION_MAX))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"correlation `{record.correlation_id}` · anomaly `{record.anomaly_id}`"
                )
            ]
        ),
    ]
    text = _clip(f"{emoji} {headline}: {observed}. {decision}", SECTION_MAX)
    return Message("remediation", text, [b.to_dict() for b in blocks])
