"""Slack messages about the remediator's decisions: approval requests and action results."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    SectionBlock,
)

from services.notifier.core.render.links import Links
from services.notifier.core.render.rendered import context, header, section, slack_payload
from services.notifier.core.render.text import (
    CONFIRM_TEXT_MAX,
    FIELD_MAX,
    SECTION_MAX,
    SEVERITY_EMOJI,
    clip,
    code,
    code_block,
    duration,
    escape,
    link,
    number,
    observed,
    slack_date,
)
from shared.events import RemediationRecord, RemediationStatus
from shared.slack_buttons import APPROVAL_NEEDED, EXPIRES_FIELD, ActionId, ApprovalButton

APPROVAL_EMOJI = ":raised_hand:"
# Keyed by status value: statuses added by a newer minor version of the record (1.2's
# post-action verification) are rendered by name, and unknown ones generically.
RESULT_EMOJI: dict[str, str] = {
    RemediationStatus.SUCCEEDED: ":white_check_mark:",
    RemediationStatus.FAILED: ":x:",
    RemediationStatus.BLOCKED: ":no_entry:",
    RemediationStatus.DRY_RUN: ":test_tube:",
    RemediationStatus.REJECTED: ":no_entry_sign:",
    RemediationStatus.EXPIRED: ":hourglass:",
    RemediationStatus.INTERRUPTED: ":warning:",
    RemediationStatus.NO_ACTION: ":information_source:",
    "verified": ":white_check_mark:",
    "not_improved": ":chart_with_downwards_trend:",
    "unverified": ":grey_question:",
    "rule_shadowed": ":eyes:",
}
RESULT_TITLE: dict[str, str] = {
    RemediationStatus.SUCCEEDED: "Succeeded",
    RemediationStatus.FAILED: "Failed",
    RemediationStatus.BLOCKED: "Blocked",
    RemediationStatus.DRY_RUN: "Dry run",
    RemediationStatus.REJECTED: "Rejected",
    RemediationStatus.EXPIRED: "Approval expired",
    RemediationStatus.INTERRUPTED: "Interrupted",
    RemediationStatus.NO_ACTION: "No action",
    "verified": "Verified",
    "not_improved": "Not improved",
    "unverified": "Not verified",
    "rule_shadowed": "Rule switched to shadow mode",
}


def _one_line(text: str, limit: int = 600) -> str:
    return escape(clip(" ".join(text.split()), limit))


def _where(record: RemediationRecord) -> str:
    return record.target or record.resource_id


def decision_summary(record: RemediationRecord) -> str:
    """One mrkdwn line: what the remediator decided (folded into the anomaly's message)."""
    action = code(record.action or "no action", 100)
    where = code(_where(record), 200)
    reason = _one_line(record.reason, 400)
    match record.status:
        case RemediationStatus.DRY_RUN:
            return f"Dry run: would run {action} on {where}"
        case RemediationStatus.NO_ACTION:
            return f"No action: {reason}"
        case RemediationStatus.SUCCEEDED:
            return f"Ran {action} on {where}: succeeded"
        case RemediationStatus.FAILED:
            return f"{action} on {where} failed: {reason}"
        case RemediationStatus.BLOCKED:
            rule = _one_line(record.blocked_by or "a safety rule", 200)
            return f"{action} blocked by {rule}: {reason}"
        case RemediationStatus.PENDING_APPROVAL:
            return f"{action} on {where} is waiting for approval (see the approval request)"
        case _:
            return f"{action}: {record.status.value.replace('_', ' ')} ({reason})"


MANUAL_METRIC = "manual"  # what the remediator names as the metric of a manual request


def _manual(record: RemediationRecord) -> bool:
    """A remediation a person asked for, with no anomaly (nor metric) behind it."""
    return record.metric == MANUAL_METRIC and record.anomaly_observed_at is None


def _about(record: RemediationRecord) -> str:
    """What the action answers, for a notification text: ``CRITICAL cpu_utilization``."""
    if _manual(record):
        return "manual request"
    return f"{record.severity.value.upper()} {record.metric}"


def _anomaly_line(record: RemediationRecord) -> str:
    if _manual(record):  # its explanation is the remediator's "manual request by ana: why"
        said = _one_line(record.anomaly_explanation or "manual request", 800)
        if not said.lower().startswith("manual request"):
            said = f"manual request: {said}"
        return f":bust_in_silhouette: {said[:1].upper()}{said[1:]}"
    emoji = SEVERITY_EMOJI[record.severity]
    text = f"{emoji} {record.severity.value.upper()} on {code(record.metric, 120)}"
    if record.anomaly_value is not None:
        low, high = record.expected_low, record.expected_high
        if low is not None and high is not None and not low == high == record.anomaly_value:
            text += f": {observed(record.anomaly_value, low, high)}"
        else:
            text += f": {number(record.anomaly_value)}"
    if record.anomaly_explanation:
        text += f" — {_one_line(record.anomaly_explanation, 800)}"
    return text


def _fields(pairs: list[tuple[str, str | None]]) -> SectionBlock | None:
    shown = [(k, v) for k, v in pairs if v][:10]
    if not shown:
        return None
    return SectionBlock(
        fields=[MarkdownTextObject(text=clip(f"*{k}*\n{v}", FIELD_MAX)) for k, v in shown]
    )


def _votes(record: RemediationRecord, decision: str) -> str | None:
    """One line per person who approved (or rejected): who, through what, when."""
    lines = [escape(v.described()) for v in record.votes if v.decision == decision]
    return "\n".join(lines) or None


def _context(record: RemediationRecord, links: Links) -> Block:
    ids = [f"correlation {code(record.correlation_id)}", f"anomaly {code(str(record.anomaly_id))}"]
    if record.run_id:
        ids.append(f"run {code(record.run_id)}")
    if record.approval_id:
        ids.append(f"approval {code(record.approval_id)}")
    ids.extend(link(url, label) for label, url in links.incident(str(record.anomaly_id)))
    return context(" · ".join(ids))


def approval_fallback(record: RemediationRecord) -> str:
    expires = f", expires {record.expires_at:%H:%M} UTC" if record.expires_at else ""
    return (
        f"{APPROVAL_EMOJI} {APPROVAL_NEEDED}: {record.action} on {_where(record)} "
        f"({_about(record)}{expires})"
    )


def approval_message(record: RemediationRecord, links: Links) -> dict[str, Any]:
    action = record.action or "an action"
    blocks: list[Block] = [
        header(f"{APPROVAL_EMOJI} {APPROVAL_NEEDED}: {action} on {_where(record)}"),
        section(f"*Why:* {_one_line(record.reason, 1500)}\n{_anomaly_line(record)}"),
    ]
    fields = _fields(
        [
            ("Action", code(action, 200)),
            ("Target", code(_where(record), 1000)),
            ("Risk", escape(record.risk) if record.risk else "unknown"),
            ("Rule", code(record.rule, 500) if record.rule else None),
            (EXPIRES_FIELD, slack_date(record.expires_at) if record.expires_at else None),
            ("Requested by", escape(record.decided_by) if record.decided_by else None),
        ]
    )
    if fields is not None:
        blocks.append(fields)
    if record.params:
        params = json.dumps(record.params, sort_keys=True, default=str)
        blocks.append(section("*Parameters*\n" + code_block(params, SECTION_MAX - 20)))
    blocks.append(_context(record, links))
    if record.approval_id:
        blocks.append(ActionsBlock(block_id="approval_actions", elements=_approval_buttons(record)))
    return slack_payload(approval_fallback(record), blocks)


def _approval_buttons(record: RemediationRecord) -> list[ButtonElement]:
    assert record.approval_id is not None
    value = ApprovalButton(
        approval_id=record.approval_id,
        action=record.action,
        resource_id=record.resource_id,
        run_id=record.run_id,
        anomaly_id=str(record.anomaly_id),
        correlation_id=record.correlation_id,
    ).encode()
    return [
        ButtonElement(
            text="Approve",
            action_id=ActionId.APPROVAL_APPROVE.value,
            value=value,
            style="primary",
            confirm=ConfirmObject(
                title="Run this action?",
                text=MarkdownTextObject(
                    text=clip(
                        f"{code(record.action or 'the action', 60)} on "
                        f"{code(_where(record), 120)}; the safety checks still apply.",
                        CONFIRM_TEXT_MAX,
                    )
                ),
                confirm="Approve",
                deny="Cancel",
            ),
        ),
        ButtonElement(
            text="Reject",
            action_id=ActionId.APPROVAL_REJECT.value,
            value=value,
            style="danger",
        ),
    ]


def _headline(record: RemediationRecord) -> str:
    emoji = RESULT_EMOJI.get(record.status.value, ":information_source:")
    title = RESULT_TITLE.get(record.status.value, record.status.value.replace("_", " "))
    if record.status.value == "rule_shadowed" and record.rule:
        return f"{emoji} {title}: {record.rule}"
    return f"{emoji} {title}: {record.action or 'no action'} on {_where(record)}"


def _observed(record: RemediationRecord) -> str | None:
    """What a post-action verification saw (record 1.2), if it says."""
    metric = getattr(record, "observed_metric", None)
    value = getattr(record, "observed_value", None)
    if metric is None or value is None:
        return None
    return f"{code(str(metric), 120)} = {number(float(value))}"


def result_fallback(record: RemediationRecord) -> str:
    text = _headline(record)
    if record.status == RemediationStatus.BLOCKED and record.blocked_by:
        text += f" (blocked by {record.blocked_by})"
    reason = " ".join(record.reason.split())
    about = _about(record)
    if reason.lower().startswith(about.lower()):  # "manual request by ana: ..."
        return f"{text} — {reason}"
    return f"{text} — {about}. {reason}"


def result_message(record: RemediationRecord, links: Links) -> dict[str, Any]:
    blocks: list[Block] = [header(_headline(record))]
    lines = []
    if record.status == RemediationStatus.BLOCKED:
        lines.append(f"*Blocked by:* {_one_line(record.blocked_by or 'a safety rule', 300)}")
    lines.append(f"*Why:* {_one_line(record.reason, 1500)}")
    lines.append(_anomaly_line(record))
    blocks.append(section("\n".join(lines)))
    fields = _fields(
        [
            ("Duration", duration(record.duration_s) if record.duration_s is not None else None),
            ("Observed", _observed(record)),
            ("Exit code", str(record.exit_code) if record.exit_code is not None else None),
            ("Executor", escape(record.executor)),
            ("Command", code(record.command_id) if record.command_id else None),
            ("Error", code(record.error_code) if record.error_code else None),
            ("Approved by", _votes(record, "approved")),
            ("Rejected by", _votes(record, "rejected")),
            # records before 1.5 name the deciders only here
            (
                "Decided by",
                None if record.votes or not record.decided_by else escape(record.decided_by),
            ),
        ]
    )
    if fields is not None:
        blocks.append(fields)
    if record.output_excerpt.strip():
        blocks.append(
            section("*Output* (end)\n" + code_block(record.output_excerpt, SECTION_MAX - 20))
        )
    blocks.append(_context(record, links))
    return slack_payload(result_fallback(record), blocks)
