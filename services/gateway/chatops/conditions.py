"""Words that put an action off until something holds ("as soon as traffic drops", "unless it
is busy", "at 3am", "in 10 minutes"). ChatOps acts at once or not at all: an action read from
free words with such a clause is neither proposed nor run, since the command it would become
drops the condition and runs now. (The parser reads a whole message or nothing, so an exact
command never carries one.) No I/O."""

from __future__ import annotations

import re

_CONDITION = re.compile(
    r"\b(?:as\s+soon\s+as|unless|only\s+if|if|whenever|when|once\s+(?!more\b)\w|after|before"
    r"|until|till|provided|in\s+case|later|tonight|tomorrow|overnight"
    r"|at\s+\d{1,2}(?::\d\d)?\s*(?:am|pm|h)?\b|at\s+(?:noon|midnight)"
    r"|in\s+(?:an?|\d+)\s*(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|days?)\b)"
    r".*",
    re.IGNORECASE | re.DOTALL,
)


_REASON = re.compile(r"\b(?:because|reason:)", re.IGNORECASE)


def condition_in(text: str) -> str | None:
    """The clause of ``text`` that makes an action wait for something (from its first word to
    the end, at most 80 characters), or None. A reason ("because ...") is the asker's own
    words and is not read."""
    match = _CONDITION.search(_REASON.split(text, 1)[0])
    if match is None:
        return None
    clause = " ".join(match.group(0).split())
    return clause if len(clause) <= 80 else clause[:79] + "…"
