"""Slack mrkdwn escaping, one rule for every service that writes to Slack.

Slack reads ``&``, ``<`` and ``>`` as control characters in any mrkdwn text, including a
message's top-level ``text`` and a slash command's answer: ``<!channel>`` pings everyone and
``<https://x|web-1>`` is a link shown as ``web-1``. Text taken from data (resource ids, alert
annotations, reasons people typed) passes through :func:`escape` before it is written into a
message; the message's own markup (mentions of the person who clicked, links it builds) is
added around the escaped parts.
"""

from __future__ import annotations


def escape(text: str) -> str:
    """``text`` with Slack's three control characters written as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """``text`` with the three entities read back as the characters they stand for: what
    Slack sends of a slash command's text (it escapes what the person typed), and a mrkdwn
    piece folded into plain text that is escaped again as a whole."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
