"""Words that put an action off until something holds ("as soon as traffic drops", "unless it
is busy", "at 3am", "in five minutes", "on friday"). ChatOps acts at once or not at all: an
action read from free words with such a clause is neither proposed nor run, since the command
it would become drops the condition and runs now. (The parser reads a whole message or
nothing, so an exact command never carries one.) No I/O.

Two kinds of words: those that always defer (``unless``, ``until``, a time or a day to come),
and those that also describe what is wrong ("it is stuck *after* the deploy", "it leaks *when*
busy"). The second kind defer only in the request itself, before the first comma: after it,
people say what they see. A reason ("because ...") is the asker's own words and is not read."""

from __future__ import annotations

import re

_NUMBER = (
    r"(?:an?|\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
    r"twenty|thirty|forty|forty-five|sixty|ninety|a\s+few|a\s+couple\s+of|half\s+an?)"
)
_UNIT = r"(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|days?|weeks?)"
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend)"
_PART = r"(?:morning|afternoon|evening|night|weekend|week|month)"

_ALWAYS = re.compile(
    r"\b(?:as\s+soon\s+as|unless|only\s+if|until|till|provided|in\s+case|later|tonight"
    r"|tomorrow|overnight|during"
    rf"|on\s+{_DAY}|{_DAY}s?\b|(?:this|next)\s+(?:{_PART}|{_DAY})"
    rf"|in\s+{_NUMBER}\s*{_UNIT}\b|in\s+half\s+an\s+hour"
    r"|at\s+(?:noon|midnight|\d{1,2}(?::\d\d)?\s*(?:am|pm|h)\b|\d{1,2}:\d\d\b|\d{4}\b(?![.%]))"
    r")(?![-_])",  # not a name that starts with such a word (till-3, later-db)
    re.IGNORECASE,
)
_IN_THE_REQUEST = re.compile(
    r"\b(?:if|whenever|when|after|before|once\s+(?!again\b|more\b)\w)", re.IGNORECASE
)
_REASON = re.compile(r"\b(?:because|reason:)", re.IGNORECASE)


def condition_in(text: str) -> str | None:
    """The clause of ``text`` that makes an action wait for something (from its first word to
    the end of the request, at most 80 characters), or None."""
    request = _REASON.split(text, 1)[0]
    found = [m.start() for m in (_ALWAYS.search(request),) if m is not None]
    head = request.split(",", 1)[0]
    weak = _IN_THE_REQUEST.search(head)
    if weak is not None:
        found.append(weak.start())
    if not found:
        return None
    clause = " ".join(request[min(found) :].split()).rstrip(",.;")
    return clause if len(clause) <= 80 else clause[:79] + "…"
