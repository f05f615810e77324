"""Every secret-shaped piece of a webhook URL removed from a text before it is stored or logged
(pure: no I/O).

A receiver's error body may echo the whole URL, only its path (``/services/T…/B…/secret``),
only the secret, an upper-cased or URL-encoded copy, or a copy it cut short itself; replacing
the whole URL as one string misses all of these. So a text loses:

- the URL, the URL without its scheme, its path, its query, path and query together;
- every run of at least :data:`FRAGMENT_MIN` characters shared with a secret-like part of the
  URL (a path segment that is long or carries digits, a query value, a password), in any case;
- the URL's host (``host/``) and everything after it up to the next space, and the segment
  before the first secret-like one with everything after it (copies cut short);
- the user and password of the URL as HTTP clients send them (``Basic`` + base64 of
  ``user:password``, which a receiver may echo with the request's headers);
- whatever has the shape of a Slack secret, whichever URL it came from: a webhook path
  (``/services/T…/B…/…``, also cut short) and a Slack token (``xox?-…``), and any
  ``Authorization`` credentials (``Basic …``, ``Bearer …``).

Over-redaction is harmless here; a leak is not.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from shared.secret_shapes import (
    AUTH_CREDENTIALS,
    REDACTED,
    SLACK_HOOK_HOST,
    SLACK_TOKEN,
    SLACK_WEBHOOK_PATH,
)

FRAGMENT_MIN = 5
SECRET_SEGMENT_MIN = 16  # a path segment this long is secret whatever it is made of
SECRET_WITH_DIGITS_MIN = 6  # ... and one this long with a digit in it (T0123ABCD, B0123ABCD)
_UNTIL_SPACE = r"[^\s\"'<>]*"


def _secret_like(segment: str) -> bool:
    return len(segment) >= SECRET_SEGMENT_MIN or (
        len(segment) >= SECRET_WITH_DIGITS_MIN and any(c.isdigit() for c in segment)
    )


def _url_parts(url: str) -> tuple[list[str], list[str], list[re.Pattern[str]]]:
    """(whole strings, secret-like tokens, patterns of a copy cut short) of one URL."""
    url = url.strip()
    if not url:
        return [], [], []
    parts = urlsplit(url)
    path = parts.path
    whole = [url, url.split("://", 1)[-1], path, parts.query, f"{path}?{parts.query}"]
    whole = [w for w in whole if len(w) > 1 and w != "/?"]
    segments = [unquote(s) for s in path.split("/") if s]
    tokens = [s for s in segments if _secret_like(s)]
    tokens += [v for _k, v in parse_qsl(parts.query) if len(v) >= FRAGMENT_MIN]
    if parts.password:
        tokens.append(parts.password)
    if parts.username is not None:  # sent as Basic base64(user:password), any case kept
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        whole.append(base64.b64encode(pair.encode()).decode().rstrip("="))
        if len(parts.username) >= FRAGMENT_MIN:  # some services put the token there
            tokens.append(unquote(parts.username))
    cut_short: list[re.Pattern[str]] = []
    if parts.netloc:
        origin = re.escape(parts.netloc.rsplit("@", 1)[-1] + "/")
        cut_short.append(re.compile(origin + _UNTIL_SPACE, re.IGNORECASE))
    first_secret = next((i for i, s in enumerate(segments) if _secret_like(s)), None)
    if first_secret:  # the segment before the secret, e.g. services/ before T…/B…/secret
        head = segments[first_secret - 1] + "/"
        cut_short.append(re.compile(re.escape(head) + _UNTIL_SPACE, re.IGNORECASE))
    return whole, tokens, cut_short


def _mark(mask: bytearray, start: int, end: int) -> None:
    mask[start:end] = b"\x01" * (end - start)


def scrub(text: str, urls: Iterable[str] = ()) -> str:
    """``text`` with every piece of ``urls`` and every Slack-secret shape replaced by
    :data:`REDACTED`."""
    if not text:
        return text
    lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)  # same indices
    mask = bytearray(len(text))
    grams: set[str] = set()
    patterns = [SLACK_WEBHOOK_PATH, SLACK_TOKEN, SLACK_HOOK_HOST, AUTH_CREDENTIALS]
    for url in urls:
        whole, tokens, cut_short = _url_parts(url)
        patterns += cut_short
        for piece in whole:
            needle, start = piece.lower(), 0
            while (found := lowered.find(needle, start)) >= 0:
                _mark(mask, found, found + len(needle))
                start = found + 1
        for token in tokens:
            token = token.lower()
            grams.update(token[i : i + FRAGMENT_MIN] for i in range(len(token) - FRAGMENT_MIN + 1))
    if grams:
        for i in range(len(text) - FRAGMENT_MIN + 1):
            if lowered[i : i + FRAGMENT_MIN] in grams:
                _mark(mask, i, i + FRAGMENT_MIN)
    for pattern in patterns:
        for match in pattern.finditer(text):
            _mark(mask, match.start(), match.end())
    return _replace_marked(text, mask)


def _replace_marked(text: str, mask: bytearray) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if mask[i]:
            while i < len(text) and mask[i]:
                i += 1
            out.append(REDACTED)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
