"""Safety limits and the checks that need no shared state (no I/O).

Allow and deny lists are configuration: they cannot race, so they are checked in the worker
before the atomic Redis step. Glob patterns for maintenance windows are checked here; the
Redis script translates them to anchored Lua patterns, so it can match them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

_LUA_MAGIC = re.compile(r"([\^\$\(\)%\.\[\]\+\-])")

# The checks that refuse an action, as records name them (``blocked_by``): the static ones
# checked here, then the atomic ones in the order of the Redis script (scripts.py).
STATIC_CHECKS = ("not_allowed", "deny_list")
ATOMIC_CHECKS = ("circuit_breaker", "maintenance", "lock", "cooldown", "blast_radius", "rate_limit")
SAFETY_CHECKS = STATIC_CHECKS + ATOMIC_CHECKS


@dataclass(frozen=True)
class SafetyLimits:
    rate_limit: int = 10
    window_s: float = 3600.0
    cooldown_s: float = 300.0
    lock_ttl_s: float = 900.0
    breaker_failures: int = 3
    breaker_window_s: float = 900.0
    dry_run: bool = True
    allowed_actions: frozenset[str] | None = None  # None: every registered action
    denied_targets: tuple[str, ...] = ()
    # How long the last action on a target and the blast radius counts are remembered at least,
    # whatever the cooldown or window of the action that recorded them: a rule whose cooldown
    # or window is longer than another's still sees that one's actions (up to this long).
    memory_s: float = 7 * 86400.0


@dataclass(frozen=True)
class Refusal:
    """Why an action may not run: the check that refuses it, as records name it
    (``blocked_by``), and a detail a person can read."""

    check: str
    detail: str


def static_refusal(
    limits: SafetyLimits,
    action: str,
    names: Iterable[str],
    extra_denied: Iterable[str] = (),
) -> Refusal | None:
    """``names``: every name of the target (resolved ids, tags, group) and the resource."""
    if limits.allowed_actions is not None and action not in limits.allowed_actions:
        allowed = ", ".join(sorted(limits.allowed_actions)) or "none"
        return Refusal("not_allowed", f"{action} is not on the allow list ({allowed})")
    names = list(names)
    for pattern in (*limits.denied_targets, *extra_denied):
        for name in names:
            if fnmatchcase(name, pattern):
                return Refusal("deny_list", f"{name} matches deny-list pattern {pattern!r}")
    return None


def critical_match(critical_labels: Mapping[str, str], names: Iterable[str]) -> bool:
    """Whether the target's tags (``tag:K=V`` names) carry every production-critical label."""
    if not critical_labels:
        return False
    tags: dict[str, list[str]] = {}
    for name in names:
        if name.startswith("tag:") and "=" in name:
            key, _, value = name[4:].partition("=")
            tags.setdefault(key, []).append(value)
    return all(
        any(fnmatchcase(value, pattern) for value in tags.get(key, []))
        for key, pattern in critical_labels.items()
    )


def glob_to_lua(pattern: str) -> str:
    """``web-*`` -> ``^web%-.*$``. Only ``*`` and ``?`` are wildcards. Refuses what a window
    may not hold; the safety script matches a window from its ``target_pattern``, where ``?``
    is one UTF-8 character as in deny lists (this translation, stored with the window for
    scripts that predate that, reads ``?`` as one byte)."""
    if "[" in pattern or "]" in pattern:
        raise ValueError("maintenance patterns support * and ? only")
    escaped = _LUA_MAGIC.sub(r"%\1", pattern)
    return "^" + escaped.replace("*", ".*").replace("?", ".") + "$"
