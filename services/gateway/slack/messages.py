"""Slack messages the gateway sends back (no I/O): slash command answers, notices to one
person, and the original message updated with who decided."""

from __future__ import annotations

from typing import Any

from services.gateway.chatops.intents import IntentName
from services.gateway.chatops.replies import Answer, Outcome, Reply
from shared.mrkdwn import escape
from shared.slack_buttons import APPROVAL_NEEDED, EXPIRES_FIELD

TEXT_MAX = 3000  # a section's or context element's text
HEADER_MAX = 150  # a header block's text
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


def decided(
    message: dict[str, Any] | None,
    line: str,
    remove: frozenset[str],
    settled: str | None = None,
) -> dict[str, Any]:
    """The original message with the buttons in ``remove`` taken away and ``line`` (who did
    what) added at the end, to replace it. ``line`` is mrkdwn (it mentions who clicked): the
    caller escapes what it quotes from data.

    ``settled`` (plain text, e.g. ":white_check_mark: Approved by ana") is given when an
    approval is decided for good: the "Approval needed" header (and the fallback text) then
    say it instead, and the "Expires" field goes, so the message no longer reads as waiting."""
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
        elif settled is not None:
            updated = _settled_block(block, settled)
            if updated is None:
                continue
            block = updated
        kept.append(block)
    kept = kept[: BLOCKS_MAX - 1]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(line)}]})
    text = str(original.get("text") or "")
    if settled is not None:
        text = _settled_title(text, settled, keep_rest=True)
    return {
        "replace_original": True,
        "text": clip(f"{text}\n{line}" if text else line),
        "blocks": kept,
    }


def _settled_title(title: str, settled: str, keep_rest: bool = False) -> str:
    """``<emoji> Approval needed: restart_service on web-1 (…)`` → ``<settled>: restart_service
    on web-1``; a title that is not an approval's is left as it is."""
    marker = f"{APPROVAL_NEEDED}: "
    at = title.find(marker)
    if at < 0:
        return title
    subject = title[at + len(marker) :]
    if not keep_rest:
        return f"{settled}: {subject}"
    # The fallback text ends with "(CRITICAL cpu, expires 18:30 UTC)": the expiry goes.
    head, sep, about = subject.partition(" (")
    if sep and about.endswith(")"):
        parts = [p for p in about[:-1].split(", ") if not p.startswith("expires ")]
        head += f" ({', '.join(parts)})" if parts else ""
    elif sep:
        head = subject
    return f"{settled}: {head}"


def _settled_block(block: dict[str, Any], settled: str) -> dict[str, Any] | None:
    """A block of a decided approval: its header says the decision, its fields lose
    "Expires" (None: nothing of the block is left)."""
    if block.get("type") == "header" and isinstance(block.get("text"), dict):
        title = str(block["text"].get("text") or "")
        new = _settled_title(title, settled)
        if new == title:
            return block
        return {**block, "text": {**block["text"], "text": clip(new, HEADER_MAX)}}
    fields = block.get("fields")
    if block.get("type") == "section" and isinstance(fields, list):
        expires = f"*{EXPIRES_FIELD}*"
        left = [
            f
            for f in fields
            if not (isinstance(f, dict) and str(f.get("text") or "").startswith(expires))
        ]
        if len(left) == len(fields):
            return block
        if not left and not block.get("text"):
            return None
        updated = {**block, "fields": left}
        if not left:
            del updated["fields"]
        return updated
    return block
