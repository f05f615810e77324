"""The deterministic parser's exact commands for approvals, safety, rules, summaries, the
noisiest series, explanations and the admin switches (no I/O).

Like the rest of :mod:`.parser`, each pattern reads the whole (tidied) message. These are the
words :meth:`ChatIntent.as_command` writes, and the few ways people say them most often;
everything looser is the classifier's (:mod:`.classifier`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from services.gateway.chatops.durations import parse_window, said_seconds
from services.gateway.chatops.intents import ChatIntent, IntentName
from services.gateway.chatops.limits import build
from services.gateway.chatops.replies import NotUnderstood

RESOURCE = r"(?P<resource>[A-Za-z0-9][\w.:/@\-]*)"
PATTERN = r"(?P<resource>[A-Za-z0-9*?][\w.:/@*?\-]*)"
METRIC = r"(?P<metric>[A-Za-z_][A-Za-z0-9_.:\-]*)"
RULE = r"(?P<rule>[a-z0-9][a-z0-9_\-]*)"
WHEN = r"(?:\s+(?P<when>(?:(?:in|from|during|over|within|for)\s+)?(?:the\s+)?(?:last|past)\s+.+))?"
# Named periods: "overnight" is the last 12 hours, "today" the last 24.
PERIODS = {
    "overnight": 43200,
    "last night": 43200,
    "today": 86400,
    "so far today": 86400,
    "this week": 604800,
}
SUMMARY_DEFAULT_S = 86400
NOISIEST_DEFAULT_S = 86400
MAINTENANCE_DEFAULT_S = 3600

Result = ChatIntent | NotUnderstood


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _window(match: re.Match[str], default: int) -> int | None:
    groups = match.groupdict()
    when, period = (groups.get("when") or "").strip(), (groups.get("period") or "").strip()
    if period:
        return PERIODS[" ".join(period.lower().split())]
    return parse_window(when) if when else default


def _approvals(match: re.Match[str]) -> Result:
    mine = bool(match.groupdict().get("mine"))
    return ChatIntent.of(IntentName.PENDING_APPROVALS, mine=mine)


def _safety(_: re.Match[str]) -> Result:
    return ChatIntent.of(IntentName.SAFETY_STATE)


def _rules(match: re.Match[str]) -> Result:
    return ChatIntent.of(IntentName.RULES, rule=match.groupdict().get("rule"))


def _summary(match: re.Match[str]) -> Result:
    window = _window(match, SUMMARY_DEFAULT_S)
    if window is None:
        return NotUnderstood("say the time range like 'summary of the last 12 hours'")
    return build(IntentName.SUMMARY, window_s=window)


def _noisiest(match: re.Match[str]) -> Result:
    window = _window(match, NOISIEST_DEFAULT_S)
    if window is None:
        return NotUnderstood("say the time range like 'noisiest in the last day'")
    count = match.groupdict().get("count")
    return build(IntentName.NOISIEST, window_s=window, count=int(count) if count else None)


def _explain(match: re.Match[str]) -> Result:
    groups = match.groupdict()
    return ChatIntent.of(
        IntentName.EXPLAIN_ANOMALY,
        anomaly_id=(groups.get("id") or "").lower() or None,
        resource=groups.get("resource"),
        metric=groups.get("metric"),
    )


def _reset_breaker(_: re.Match[str]) -> Result:
    return ChatIntent.of(IntentName.RESET_BREAKER)


def _reload_rules(_: re.Match[str]) -> Result:
    return ChatIntent.of(IntentName.RELOAD_RULES)


def _unshadow(match: re.Match[str]) -> Result:
    return ChatIntent.of(IntentName.UNSHADOW_RULE, rule=match.group("rule").lower())


def _maintenance(match: re.Match[str]) -> Result:
    length = match.group("duration")
    seconds = said_seconds(length) if length else MAINTENANCE_DEFAULT_S
    if seconds is None:
        return NotUnderstood("say how long, e.g. 'maintenance on web-* for 2h'")
    reason = match.groupdict().get("reason")
    return build(
        IntentName.START_MAINTENANCE,
        resource=match.group("resource"),
        duration_s=seconds,
        reason=reason.strip()[:300] if reason else None,
    )


PERIOD = r"\s+(?P<period>overnight|last\s+night|today|so\s+far\s+today|this\s+week)"
MORE_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Result]]] = [
    (
        _re(
            r"(?:(?:show|list|any)\s+(?:me\s+)?)?(?:(?P<mine>my)\s+|the\s+|all\s+)?"
            r"(?:pending\s+approvals|approvals(?:\s+pending)?)"
            r"|what(?:'s| is)\s+waiting\s+for\s+approval"
        ),
        _approvals,
    ),
    (
        _re(
            r"safety(?:\s+state|\s+status)?|(?:is\s+the\s+)?(?:circuit\s+)?breaker"
            r"(?:\s+(?:open|closed|state|status))?|(?:is\s+)?dry[- ]?run(?:\s+(?:on|off|state))?"
        ),
        _safety,
    ),
    (
        _re(
            r"(?:(?:show|list)\s+)?(?:the\s+)?(?:remediation\s+)?rules(?:\s+in\s+force)?"
            r"|(?:which|what)\s+rules\s+are\s+in\s+shadow(?:\s+mode)?|shadow(?:ed)?\s+rules"
            r"|(?:show\s+)?rule\s+" + RULE
        ),
        _rules,
    ),
    (_re(r"summary(?:\s+of)?" + WHEN), _summary),
    (_re(r"(?:summary|what\s+happened)" + PERIOD), _summary),
    (
        _re(
            r"(?:top\s+(?P<count>\d+)\s+)?(?:noisiest|loudest)"
            r"(?:\s+(?:resources|metrics|series|hosts))?" + WHEN
        ),
        _noisiest,
    ),
    (_re(r"explain\s+(?:anomaly\s+)?(?P<id>[0-9a-f]{4,32}|[0-9a-f\-]{36})"), _explain),
    (_re(r"explain\s+(?:the\s+)?(?:latest\s+|last\s+)?anomaly\s+on\s+" + RESOURCE), _explain),
    (_re(r"explain\s+" + METRIC + r"\s+on\s+" + RESOURCE), _explain),
    (_re(r"(?:reset|close)\s+(?:the\s+)?(?:circuit\s+)?breaker"), _reset_breaker),
    (_re(r"reload\s+(?:the\s+)?(?:remediation\s+)?rules"), _reload_rules),
    (_re(r"(?:unshadow|un-shadow)\s+(?:rule\s+)?" + RULE), _unshadow),
    (
        _re(r"take\s+(?:rule\s+)?" + RULE + r"\s+out\s+of\s+(?:auto[- ]?)?shadow(?:\s+mode)?"),
        _unshadow,
    ),
    (
        _re(
            r"(?:start\s+|open\s+|begin\s+)?maintenance(?:\s+window)?\s+(?:on|for)\s+"
            + PATTERN
            + r"(?:\s+for\s+(?P<duration>.+?))?(?:\s+(?:because|reason:)\s+(?P<reason>.+))?"
        ),
        _maintenance,
    ),
]
