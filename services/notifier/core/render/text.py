"""Text within Slack's limits: clipping, mrkdwn escaping, numbers, durations (no I/O)."""

from __future__ import annotations

from datetime import datetime

from shared.events import Severity
from shared.mrkdwn import escape as escape  # the renderers escape through this module
from shared.readable_numbers import number as number  # and write numbers through it
from shared.readable_numbers import value_and_band

# Slack's published limits (https://docs.slack.dev/reference/block-kit/blocks).
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
FIELDS_MAX = 10
CONTEXT_ELEMENTS_MAX = 10
BLOCKS_MAX = 50
BUTTON_TEXT_MAX = 75
CONFIRM_TEXT_MAX = 300
# The notification text (what a lock screen shows). Slack truncates at 40,000 characters and
# advises far less; a phone shows a line or two.
FALLBACK_MAX = 3000

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:",
    Severity.NORMAL: ":white_circle:",
}

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters; a cut is marked with an ellipsis and never leaves half an
    HTML entity (``&amp;``) behind."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + ELLIPSIS


def clip_tail(text: str, limit: int) -> str:
    """The last ``limit`` characters (the end of a command's output matters most)."""
    if len(text) <= limit:
        return text
    return ELLIPSIS + text[-(limit - 1) :]


def code(text: str, limit: int = 300) -> str:
    """Inline code; mrkdwn has no escape for a backtick inside it, so it becomes a quote."""
    return f"`{escape(clip(text, limit)).replace('`', chr(39))}`"


def code_block(text: str, limit: int) -> str:
    body = escape(clip_tail(text.strip("\n"), limit - 8)).replace("```", "'''")
    return clip(f"```{body}```", limit)


def observed(value: float, low: float, high: float) -> str:
    """A value and the band it is judged against: ``12,345 (expected 9,000 to 12,344)``."""
    shown_value, shown_low, shown_high = value_and_band(value, low, high)
    return f"{shown_value} (expected {shown_low} to {shown_high})"


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def slack_date(moment: datetime) -> str:
    """A time each reader sees in their own zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def link(url: str, label: str) -> str:
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{escape(label)}>"
