"""The deterministic parser: plain words to a :class:`ChatIntent`, with no external service.

Each pattern reads the whole message (after tidying: case, quotes, "please", trailing
punctuation), so a message is either understood completely or not at all: "restart nginx on
web-1 unless it is busy" is not understood, rather than read as a restart. A message that
names a known command but lacks something gets a hint saying what.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import ValidationError

from services.gateway.chatops.durations import parse_window, said_seconds
from services.gateway.chatops.extraction import DRY_RUN_SAID
from services.gateway.chatops.intents import ActionName, ChatIntent, IntentName
from services.gateway.chatops.limits import build
from services.gateway.chatops.parser_more import MORE_RULES
from services.gateway.chatops.replies import NotUnderstood
from services.gateway.chatops.text_guard import QUERY_MAX_CHARS
from shared.events import Severity

RESOURCE = r"(?P<resource>[A-Za-z0-9][\w.:/@\-]*)"
PATTERN = r"(?P<resource>[A-Za-z0-9*?][\w.:/@*?\-]*)"
METRIC = r"(?P<metric>[A-Za-z_][A-Za-z0-9_.:\-]*)"
SERVICE = r"(?P<service>[A-Za-z0-9][A-Za-z0-9@._:\-]*)"
TAIL = r"(?P<tail>(?:\s.*)?)"
DEFAULT_WINDOW_S = 3600
DEFAULT_SILENCE_S = 3600


ParseResult = ChatIntent | NotUnderstood
Builder = Callable[[re.Match[str]], ParseResult]

_LEADING = re.compile(
    r"^(?:@?cloudops[:,]?\s+|/cloudops\s+|hey\s+|hi\s+|ok\s+|please\s+|pls\s+|kindly\s+"
    r"|(?:can|could|would|will)\s+you\s+(?:please\s+)?|i\s+want\s+to\s+know\s+)+",
    re.IGNORECASE,
)
# One character or one polite word per repetition: a run of "?" followed by anything else
# must not be split in every possible way (``(?:[?]+)+`` backtracks exponentially).
_TRAILING = re.compile(r"(?:\s+(?:please|thanks|thank you)|[\s?!.])+$", re.IGNORECASE)


def tidy(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2014", "-")
    text = " ".join(text.split())
    previous = None
    while previous != text:
        previous = text
        text = _TRAILING.sub("", _LEADING.sub("", text)).strip()
    return text


def parse(text: str) -> ParseResult:
    if text.strip() == "?":
        return ChatIntent.of(IntentName.HELP)
    cleaned = tidy(text)
    if not cleaned or len(cleaned) > QUERY_MAX_CHARS:
        return NotUnderstood()
    for pattern, builder in RULES:
        match = pattern.fullmatch(cleaned)
        if match is not None:
            try:
                return builder(match)
            except ValidationError as exc:
                return NotUnderstood(_first_error(exc))
    return NotUnderstood()


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"] if p != "entities")
    reason = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {reason}" if where else reason


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# -- options after an action: "in dry run", "because ..." ----------------------------------

_OPTIONS = _re(
    r"(?P<dry>\s*(?:\(dry[- ]?run\)|--dry-run|in\s+dry[- ]?run|as\s+a\s+dry[- ]?run|dry[- ]?run))?"
    r"(?:\s*(?:because|reason:)\s+(?P<reason>.+))?"
)
# Only "because" and "reason:" start a reason: "as" and "since" also start words that change
# the command ("as soon as ...", "as well as web-2", "as a dry run later"), which must then be
# not understood rather than run now with the rest taken for a reason.


def _options(tail: str) -> tuple[bool, str | None] | None:
    """(dry run, reason) of what follows an action, or None if it says something else."""
    match = _OPTIONS.fullmatch(tail)
    if match is None:
        return None
    reason = match.group("reason")
    # "because testing --dry-run": the reason is not read for options, but a request that
    # says dry run anywhere is one (as the classifier reads it), never an action done now.
    dry = match.group("dry") is not None or bool(reason and DRY_RUN_SAID.search(reason))
    return dry, reason.strip()[:300] if reason else None


def _action(match: re.Match[str], action: ActionName, **params: object) -> ParseResult:
    options = _options(match.group("tail"))
    if options is None:
        return NotUnderstood(
            "after the target, only 'in dry run' and 'because <reason>' are understood"
        )
    dry_run, reason = options
    return build(
        IntentName.RUN_ACTION,
        action=action,
        resource=match.group("resource"),
        dry_run=dry_run,
        reason=reason,
        **{k: v for k, v in params.items() if v is not None},
    )


def _count(word: str | None) -> int | None:
    if word is None:
        return None
    return {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3}.get(word.lower()) or int(word)


# -- builders --------------------------------------------------------------------------------


def _status(_: re.Match[str]) -> ParseResult:
    return ChatIntent.of(IntentName.STATUS)


def _help(_: re.Match[str]) -> ParseResult:
    return ChatIntent.of(IntentName.HELP)


def _health(match: re.Match[str]) -> ParseResult:
    return ChatIntent.of(IntentName.RESOURCE_HEALTH, resource=match.group("resource"))


def _anomalies(match: re.Match[str]) -> ParseResult:
    groups = match.groupdict()
    severity, resource, window = groups.get("severity"), groups.get("resource"), DEFAULT_WINDOW_S
    when = (match.group("when") or "").strip()
    if when:
        parsed = parse_window(when)
        if parsed is None:
            return NotUnderstood("say the time range like 'in the last 2 hours'")
        window = parsed
    return build(
        IntentName.RECENT_ANOMALIES,
        window_s=window,
        resource=resource,
        min_severity=Severity(severity.lower()) if severity else None,
    )


_PAST_TENSE = {
    "restart": ActionName.RESTART_SERVICE,
    "restarted": ActionName.RESTART_SERVICE,
    "rebooted": ActionName.RESTART_SERVICE,
    "bounced": ActionName.RESTART_SERVICE,
    "scaled out": ActionName.SCALE_OUT,
    "scaled up": ActionName.SCALE_OUT,
    "scale out": ActionName.SCALE_OUT,
    "scale up": ActionName.SCALE_OUT,
    "scaled in": ActionName.SCALE_IN,
    "scaled down": ActionName.SCALE_IN,
    "scale in": ActionName.SCALE_IN,
    "scale down": ActionName.SCALE_IN,
    "cleaned up": ActionName.CLEANUP_DISK,
    "cleaned": ActionName.CLEANUP_DISK,
    "clean up": ActionName.CLEANUP_DISK,
}


def _why(match: re.Match[str]) -> ParseResult:
    verb = " ".join(match.group("verb").lower().split())
    verb = verb.removeprefix("get ").removeprefix("got ")
    if verb not in _PAST_TENSE:
        return NotUnderstood(f"I know why things were {', '.join(sorted(set(_PAST_TENSE)))}")
    return ChatIntent.of(
        IntentName.ACTION_HISTORY, resource=match.group("resource"), action=_PAST_TENSE[verb]
    )


def _history(match: re.Match[str]) -> ParseResult:
    action = match.groupdict().get("action")
    return ChatIntent.of(
        IntentName.ACTION_HISTORY,
        resource=match.group("resource"),
        action=ActionName(action.lower()) if action else None,
    )


def _restart_history(match: re.Match[str]) -> ParseResult:
    return ChatIntent.of(
        IntentName.ACTION_HISTORY,
        resource=match.group("resource"),
        action=ActionName.RESTART_SERVICE,
    )


def _restart(match: re.Match[str]) -> ParseResult:
    return _action(match, ActionName.RESTART_SERVICE, service=match.group("service"))


def _restart_without_service(match: re.Match[str]) -> ParseResult:
    return NotUnderstood(f"say which service, e.g. 'restart nginx on {match.group('resource')}'")


def _scale(match: re.Match[str]) -> ParseResult:
    out = match.group("direction").lower() in ("out", "up", "add")
    action = ActionName.SCALE_OUT if out else ActionName.SCALE_IN
    return _action(match, action, count=_count(match.group("count")))


def _cleanup(match: re.Match[str]) -> ParseResult:
    return _action(match, ActionName.CLEANUP_DISK)


def _monitoring(match: re.Match[str]) -> ParseResult:
    return _action(match, ActionName.ENHANCE_MONITORING)


def _script(match: re.Match[str]) -> ParseResult:
    return _action(match, ActionName.OPTIMIZE_PERFORMANCE, script=match.group("script").lower())


def _decision(match: re.Match[str]) -> ParseResult:
    verb = match.group("verb").lower()
    intent = IntentName.APPROVE if verb == "approve" else IntentName.REJECT
    comment = match.group("comment")
    return ChatIntent.of(
        intent,
        approval_id=match.group("id").lower(),
        reason=comment.strip()[:300] if comment else None,
    )


def _decision_without_id(_: re.Match[str]) -> ParseResult:
    return NotUnderstood(
        "give the approval's id (or its first 8 characters), e.g. 'approve 4f1c09ab'"
    )


def _silence_unclear(_: re.Match[str]) -> ParseResult:
    return NotUnderstood("say what and for how long, e.g. 'silence web-1 for 2h'")


def _silence(match: re.Match[str]) -> ParseResult:
    length = match.group("duration")
    seconds = said_seconds(length) if length else DEFAULT_SILENCE_S
    if seconds is None:
        return NotUnderstood("say how long, e.g. 'silence web-1 for 2h'")
    if said_seconds(match.group("resource")) is not None:  # "mute alerts for 2h"
        return NotUnderstood("say what to silence, e.g. 'silence web-1 for 2h'")
    metric = match.groupdict().get("metric")
    return build(
        IntentName.SILENCE,
        resource=match.group("resource"),
        metric=None if metric and metric.lower() in _EVERY_METRIC else metric,
        duration_s=seconds,
    )


_EVERY_METRIC = frozenset({"everything", "all", "anything", "alerts", "notifications"})


SEVERITY = r"(?:(?P<severity>critical|high|medium|low)\s+)?"
WHEN = r"(?P<when>\s+(?:(?:in|from|during|over|within|for)\s+)?(?:the\s+)?(?:last|past)\s+.+)?"
SILENCE_VERB = (
    r"(?:silence|mute|snooze)\s+(?:(?:the\s+)?(?:alerts|notifications)\s+(?:for|on|of)\s+)?"
)
FOR = r"(?:\s+for\s+(?P<duration>.+))?"

RULES: list[tuple[re.Pattern[str], Builder]] = [
    *MORE_RULES,
    (
        _re(
            r"help|commands|usage|what can you do|how do i use (?:this|you)"
            r"|what do you understand"
        ),
        _help,
    ),
    (
        _re(
            r"(?:(?:system|overall|cluster|platform)\s+)?(?:status|health)"
            r"|how(?:'s| is| are) (?:things|everything|the system)(?: doing| going)?"
            r"|is (?:everything|the system|all) (?:ok|okay|fine|healthy|good)"
            r"|what(?:'s| is) the (?:status|situation)"
        ),
        _status,
    ),
    (
        _re(
            r"(?P<verb>approve|reject|deny|decline)\s+(?:approval\s+|request\s+)?#?"
            r"(?P<id>[0-9a-f]{2,32})(?:\s*(?:because|:|-)\s*(?P<comment>.+))?"
        ),
        _decision,
    ),
    (_re(SILENCE_VERB + METRIC + r"\s+on\s+" + PATTERN + FOR), _silence),
    (_re(SILENCE_VERB + PATTERN + FOR), _silence),
    (
        _re(
            r"why\s+(?:was|were|did|has|is|got)\s+" + RESOURCE + r"\s+(?P<verb>(?:got\s+|get\s+)?"
            r"[a-z]+(?:\s+(?:out|in|up|down))?)"
        ),
        _why,
    ),
    (
        _re(
            r"why\s+(?:was|were|did)\s+(?:the\s+)?" + SERVICE + r"(?:\s+service)?\s+(?:get\s+)?"
            r"(?:restarted|restart|bounced)\s+on\s+" + RESOURCE
        ),
        _restart_history,
    ),
    (
        _re(
            r"(?:what\s+(?:happened|was\s+done|has\s+been\s+done)\s+(?:to|on|with)"
            r"|(?:show\s+)?(?:the\s+)?(?:history|actions|audit(?:\s+log)?)\s+(?:of|for|on))\s+"
            + RESOURCE
        ),
        _history,
    ),
    (
        _re(
            r"(?:show\s+)?(?:the\s+)?(?:history|actions|audit(?:\s+log)?)\s+of\s+"
            r"(?P<action>restart_service|scale_out|scale_in|cleanup_disk|enhance_monitoring"
            r"|optimize_performance)\s+(?:on|for)\s+" + RESOURCE
        ),
        _history,
    ),
    (
        _re(
            r"(?:restart|bounce)\s+(?:the\s+)?" + SERVICE + r"(?:\s+service)?\s+on\s+"
            r"(?:the\s+)?(?:host\s+|instance\s+|server\s+)?" + RESOURCE + TAIL
        ),
        _restart,
    ),
    (_re(r"(?:restart|reboot|bounce)\s+" + RESOURCE), _restart_without_service),
    (
        _re(
            r"scale\s+(?P<direction>out|up|in|down)\s+"
            + RESOURCE
            + r"(?:\s+by\s+(?P<count>\d+|an?|one|two|three))?(?:\s+instances?)?"
            + TAIL
        ),
        _scale,
    ),
    (
        _re(
            r"(?P<direction>add|remove)\s+(?P<count>\d+|an?|one|two|three)\s+instances?\s+"
            r"(?:to|from)\s+" + RESOURCE + TAIL
        ),
        _scale,
    ),
    (
        _re(
            r"(?:clean\s*up|clean|free(?:\s+up)?)\s+(?:the\s+)?disk(?:\s+space)?\s+on\s+"
            + RESOURCE
            + TAIL
        ),
        _cleanup,
    ),
    (
        _re(
            r"(?:enable|turn\s+on|switch\s+on)\s+(?:detailed\s+)?monitoring\s+(?:on|for)\s+"
            + RESOURCE
            + TAIL
        ),
        _monitoring,
    ),
    (
        _re(
            r"run\s+(?:the\s+)?(?:script\s+)?(?P<script>[a-z0-9][a-z0-9_\-]*)(?:\s+script)?\s+on\s+"
            + RESOURCE
            + TAIL
        ),
        _script,
    ),
    (
        _re(
            r"(?:what(?:'s|s| is)\s+(?:wrong|up|going\s+on|happening)\s+with"
            r"|how(?:'s| is)|(?:status|health)\s+of|any\s+problems?\s+(?:with|on)"
            r"|is\s+there\s+(?:a\s+problem|anything\s+wrong)\s+with)\s+"
            + RESOURCE
            + r"(?:\s+doing)?"
        ),
        _health,
    ),
    (_re(r"is\s+" + RESOURCE + r"\s+(?:ok|okay|fine|healthy|alright)"), _health),
    (
        _re(
            r"(?:(?:show|list|any|get)\s+(?:me\s+)?(?:the\s+|all\s+)?)?"
            + SEVERITY
            + r"(?:anomalies|alerts|incidents)(?:\s+(?:on|for)\s+"
            + RESOURCE
            + r")?"
            + WHEN
        ),
        _anomalies,
    ),
    (_re(r"what\s+(?:happened|went\s+wrong)" + WHEN), _anomalies),
    (_re(r"(?:approve|reject|deny|decline)(?:\s+.*)?"), _decision_without_id),
    (_re(r"(?:silence|mute|snooze)(?:\s+.*)?"), _silence_unclear),
]
