"""Slack messages the gateway sends back (no I/O): slash command answers, notices to one
person, and the original message updated with who decided."""

from __future__ import annotations

from typing import Any

from services.gateway.chatops.intents import IntentName
from services.gateway.chatops.replies import Answer, Outcome, Reply
from shared.mrkdwn import escape

TEXT_MAX = 3000  # a section's or context element's text
BLOCKS_MAX = 50
PUBLIC = frozenset({Outcome.ANSWERED, Outcome.ACCEPTED})


def clip(text: str, limit: int = TEXT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def command_answer(reply: Reply) -> dict[str, Any]:
    """Answers and accepted commands are shown to the channel; help, refusals and what was
    not understood only to the person who asked. An answer is plain text quoting data
    (resource ids, explanations, reasons): escaped, so none of it is read as mrkdwn."""
    public = reply.answer.outcome in PUBLIC and (
        reply.intent is None or reply.intent.intent is not IntentName.HELP
    )
    return {
        "response_type": "in_channel" if public else "ephemeral",
        "text": clip(_escaped(reply.answer)),
    }


def _escaped(answer: Answer) -> str:
    """The answer's text escaped, except the end the gateway wrote as mrkdwn (the links to
    incident pages), which Slack must read as links."""
    text, markup = answer.text, answer.markup
    if markup and text.endswith(markup):
        return escape(text[: len(text) - len(markup)]) + markup
    return escape(text)


def notice(text: str) -> dict[str, Any]:
    """A message only the person who clicked or asked sees; the original stays. ``text`` is
    plain (escaped here)."""
    return {"response_type": "ephemeral", "replace_original": False, "text": clip(escape(text))}


def working_on(text: str) -> dict[str, Any]:
    return {
        "response_type": "ephemeral",
        "text": clip(f"Working on `{escape(text)}`: the answer follows here shortly."),
    }


def decided(message: dict[str, Any] | None, line: str, remove: frozenset[str]) -> dict[str, Any]:
    """The original message with the buttons in ``remove`` taken away and ``line`` (who did
    what) added at the end, to replace it. ``line`` is mrkdwn (it mentions who clicked): the
    caller escapes what it quotes from data."""
    original = message or {}
    blocks = [b for b in original.get("blocks", []) if isinstance(b, dict)]
    kept: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "actions":
            elements = [
                e
                for e in block.get("elements", [])
                if not (isinstance(e, dict) and e.get("action_id") in remove)
            ]
            if not elements:
                continue
            block = {**block, "elements": elements}
        kept.append(block)
    kept = kept[: BLOCKS_MAX - 1]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(line)}]})
    text = str(original.get("text") or "")
    return {
        "replace_original": True,
        "text": clip(f"{text}\n{line}" if text else line),
        "blocks": kept,
    }
