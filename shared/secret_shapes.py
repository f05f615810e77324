"""Text shaped like a secret, whichever setting it came from: Slack webhook paths (also cut short
or URL-encoded), Slack's hook host with what follows it, Slack tokens, and the credentials of an
HTTP ``Authorization`` header (``Basic …``, ``Bearer …``: a receiver or a client library may
repeat the request's headers), and the secret part of the product's own API keys
(``scops_<id>_<secret>``: a client may send its key in a query string, which the access log
writes; the id, which finds the key's record, is kept). Used to mask them in everything logged
and in delivery errors (pure: no I/O)."""

from __future__ import annotations

import re

REDACTED = "<redacted>"
_SEP = r"(?:/|%2[Ff])"
SLACK_WEBHOOK_PATH = re.compile(
    rf"{_SEP}?services{_SEP}T[A-Z0-9]+(?:{_SEP}B[A-Z0-9]*(?:{_SEP}[A-Za-z0-9]*)?)?"
)
SLACK_TOKEN = re.compile(r"xox[abpors]-[A-Za-z0-9-]*", re.IGNORECASE)
SLACK_HOOK_HOST = re.compile(r"hooks\.slack(?:-gov)?\.com[^\s\"'<>]*", re.IGNORECASE)
AUTH_CREDENTIALS = re.compile(r"\b(?:basic|bearer)\s+[A-Za-z0-9+/_.~-]{8,}=*", re.IGNORECASE)
SHAPES = (SLACK_HOOK_HOST, SLACK_WEBHOOK_PATH, SLACK_TOKEN, AUTH_CREDENTIALS)
API_KEY_SECRET = re.compile(r"(scops_[0-9a-f]{12}_)[A-Za-z0-9_-]+")


def mask_secret_shapes(text: str) -> str:
    """``text`` with every secret-shaped run replaced."""
    for shape in SHAPES:
        text = shape.sub(REDACTED, text)
    return API_KEY_SECRET.sub(rf"\g<1>{REDACTED}", text)
