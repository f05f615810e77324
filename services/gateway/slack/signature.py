"""Slack's request signature, version 0 (no I/O).

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with HMAC-SHA256 keyed by the app's
signing secret and sends ``v0=<hex digest>`` as ``X-Slack-Signature``. A request is genuine
when the digest matches (compared in constant time) and the timestamp is within five minutes
of now; remembering what was seen (``verification.ReplayGuard``) turns the window into
at-most-once.

SlackVerificationError       why a request is refused (every case is a 401)
"""

from __future__ import annotations

import hashlib
import hmac

TOLERANCE_S = 300
VERSION = "v0"


class SlackVerificationError(Exception):
    """A Slack request that is not provably from Slack, now, for the first time."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def check_signature(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """Raises :class:`SlackVerificationError` unless the signature is valid and fresh."""
    if not timestamp or not signature:
        raise SlackVerificationError(
            "X-Slack-Request-Timestamp and X-Slack-Signature headers are required"
        )
    # isdigit() alone also takes digits like "²" that int() refuses: ASCII digits only.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise SlackVerificationError("X-Slack-Request-Timestamp is not a Unix time")
    if abs(now - int(timestamp)) > TOLERANCE_S:
        raise SlackVerificationError("the request timestamp is more than 5 minutes off")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SlackVerificationError("the Slack signature does not match")
