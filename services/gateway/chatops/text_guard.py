"""What a chat message is read as: the text a person sees. Invisible format characters (zero
width spaces, joiners, soft hyphens) are dropped and the dash-like hyphens read as ``-``, so
"dry\u200brun" or "dry\u2011run" is the dry run it looks like, never a real run. Digits other
than 0-9 (Arabic-Indic, Devanagari, superscripts...) are refused: "1\u0660" looks like "1." and
would read as 10, so no count or duration is taken from them."""

from __future__ import annotations

import unicodedata

#: The longest message read, whichever way it comes (the API refuses longer; Slack is answered
#: that it is too long): never cut, since its end ("... as a dry run") may change what it asks.
QUERY_MAX_CHARS = 500

# Hyphens and dashes a person reads as "-" (U+00AD, the soft hyphen, is a format character).
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2015\u2212\ufe58\ufe63\uff0d"), "-")


def readable(text: str) -> str:
    """``text`` as it reads: format characters dropped, dashes made ``-``."""
    shown = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return shown.translate(_DASHES)


def foreign_digits(text: str) -> str | None:
    """The first digit that is not one of 0-9, if any."""
    return next((ch for ch in text if ch.isdigit() and not ch.isascii()), None)
