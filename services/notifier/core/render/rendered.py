"""A message rendered for one channel, and block helpers shared by the Slack renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from services.notifier.core.alerts import MessageKind
from services.notifier.core.render.text import (
    BLOCKS_MAX,
    CONTEXT_ELEMENTS_MAX,
    FALLBACK_MAX,
    HEADER_MAX,
    SECTION_MAX,
    clip,
    escape,
)
from shared.events import Severity


@dataclass(frozen=True)
class Rendered:
    kind: MessageKind
    text: str  # the notification text: what a phone's lock screen shows
    payload: dict[str, Any]
    correlation_id: str
    severity: Severity | None = None
    source_event_ids: list[str] = field(default_factory=list)
    # Sample times of the anomalies the message tells about for the first time (or at a
    # higher severity): the end-to-end latency's "notified" stage starts there.
    anomalies_observed_at: tuple[datetime, ...] = ()


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=clip(text, HEADER_MAX), emoji=True))


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_MAX)))


def context(*parts: str) -> ContextBlock:
    kept = [p for p in parts if p][:CONTEXT_ELEMENTS_MAX]
    return ContextBlock(elements=[MarkdownTextObject(text=clip(p, SECTION_MAX)) for p in kept])


def slack_payload(text: str, blocks: list[Block]) -> dict[str, Any]:
    """``to_dict`` validates every block against Slack's limits (SlackObjectFormationError).
    ``text`` is plain text: it is escaped here, as Slack reads mrkdwn in it too (a resource
    id ``<!channel>`` in a notification's text would ping the whole channel)."""
    if len(blocks) > BLOCKS_MAX:
        raise ValueError(f"{len(blocks)} blocks; Slack takes {BLOCKS_MAX}")
    return {"text": clip(escape(text), FALLBACK_MAX), "blocks": [b.to_dict() for b in blocks]}
