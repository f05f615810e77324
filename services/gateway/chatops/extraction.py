"""Entities in free words, resolved against what the system knows (no I/O).

:func:`extract` finds every candidate in a message, whatever the intent: resources (and
globs), metrics, services, scripts, rules, hex ids, durations and look-back windows, counts,
severities, actions, a reason, "dry run", "my". :mod:`.reading` then keeps what the intent
takes. A resource, metric or rule not known but close to one that is (``wbe-1``, ``web1``,
``cpu-critcal``) is replaced by the known one and the correction is kept, so the answer can
say "did you mean web-1?". Names that differ only in their digits (``web-3`` and ``web-1``)
are siblings, not typos, and are never corrected into each other.

:func:`masked` is the message as the classifier reads it: resource names, ids and lengths of
time replaced by placeholders, so that "web-1" and "pool-a" weigh the same.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from services.gateway.chatops.durations import UNITS, said_seconds
from services.gateway.chatops.intents import ActionName
from shared.events import Severity

NEAR = 0.75  # difflib ratio above which an unknown name is taken as a typo of a known one

TOKEN = re.compile(r"[A-Za-z0-9*?#][\w.:/@*?\-]*[\w*?]|[A-Za-z0-9]")
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "ten": 10}
PERIODS = {
    "overnight": 43200,
    "last night": 43200,
    "tonight": 43200,
    "this morning": 21600,
    "today": 86400,
    "yesterday": 86400,
    "since yesterday": 86400,
    "this week": 604800,
    "the week": 604800,
}
SEVERITY_WORDS = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "sev1": Severity.CRITICAL,
    "high": Severity.HIGH,
    "serious": Severity.HIGH,
    "severe": Severity.HIGH,
    "major": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "warning": Severity.MEDIUM,
    "low": Severity.LOW,
    "minor": Severity.LOW,
}
METRIC_ALIASES = {
    "cpu": ("cpu",),
    "processor": ("cpu",),
    "load": ("load", "cpu"),
    "memory": ("mem",),
    "mem": ("mem",),
    "ram": ("mem",),
    "disk": ("disk", "filesystem"),
    "latency": ("latency", "response_time"),
    "errors": ("error",),
    "error": ("error",),
}
KNOWN_SERVICES = frozenset(
    {"nginx", "apache2", "httpd", "app", "postgresql", "postgres", "mysql", "redis",
     "redis-server", "docker", "sshd", "php-fpm", "gunicorn", "uwsgi", "celery", "kubelet",
     "haproxy", "memcached", "tomcat", "node", "api", "worker"}
)  # fmt: skip
# Words that look like names (a dash, a digit) but never name a resource.
NOT_NAMES = frozenset(
    {"dry-run", "dryrun", "auto-shadow", "un-shadow", "re-run", "follow-up", "x-ray", "e-mail",
     "on-call", "right-now", "top", "sev1", "sev2", "p1", "p2", "24x7", "24/7", "check-in"}
)  # fmt: skip
# Words after "on", "for", "with" that are not resource names either.
STOP = frozenset(
    """a an the it this that them me us you my our all any some every everything anything now
    today tonight yesterday overnight night morning week hour hours day days minute minutes
    last past next please pls thanks approval approvals rules rule breaker shadow mode dry
    run maintenance cpu memory disk latency errors error load ram it's alerts alert
    notifications anomalies anomaly incidents host hosts server servers instance instances
    box machine node system platform cluster prod production staging things stuff here there
    again already asap why what how who when where which is are was were be been being do
    does did done i we they he she his her its their your yours mine hold ok okay up down
    out in off by to of at from with for about and or but not no yes so as if then than""".split()  # noqa: SIM905
)
ACTION_WORDS: tuple[tuple[re.Pattern[str], ActionName], ...] = tuple(
    (re.compile(p, re.IGNORECASE), a)
    for p, a in (
        (r"\b(?:scal(?:e|ed|ing)\s+(?:\S+\s+)?(?:out|up)|add\w*\s+(?:\S+\s+)?(?:instances?|"
         r"nodes?|capacity|boxes)|more\s+(?:instances|capacity|nodes)|scale-?out|upscale)\b",
         ActionName.SCALE_OUT),
        (r"\b(?:scal(?:e|ed|ing)\s+(?:\S+\s+)?(?:in|down)|remov\w*\s+(?:\S+\s+)?(?:instances?|"
         r"nodes?|capacity|boxes)|fewer\s+instances|shrink|scale-?in|downscale)\b",
         ActionName.SCALE_IN),
        (r"\b(?:clean(?:ed|ing)?\s*-?up|clean|free(?:d|ing)?\s+(?:up\s+)?(?:some\s+)?"
         r"(?:disk|space)|disk\s+clean\w*|purge|tidy)\b", ActionName.CLEANUP_DISK),
        (r"\b(?:detailed\s+monitoring|enhance\w*\s+monitoring|monitoring\s+on|more\s+"
         r"monitoring|enable\s+monitoring|turn\s+on\s+monitoring)\b",
         ActionName.ENHANCE_MONITORING),
        (r"\b(?:restart\w*|re-start\w*|reboot\w*|bounc\w+|kick\w*|cycle|recycle\w*|"
         r"rstrt|rs)\b", ActionName.RESTART_SERVICE),
        (r"\brun\s+(?:the\s+)?(?:script\s+)?[a-z0-9][a-z0-9_\-]*(?:\s+script)?\s+(?:on|against)",
         ActionName.OPTIMIZE_PERFORMANCE),
    )
)  # fmt: skip


@dataclass(frozen=True)
class Knowledge:
    """What the system knows by name: resources seen, metric names, rule names, scripts."""

    resources: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    scripts: frozenset[str] = frozenset()


@dataclass
class Found:
    """Every candidate entity in one message; ``corrected`` maps what was said to what is
    known (a near miss)."""

    resource: str | None = None
    metric: str | None = None
    service: str | None = None
    script: str | None = None
    rule: str | None = None
    hex_id: str | None = None
    window_s: int | None = None
    duration_s: int | None = None
    count: int | None = None
    min_severity: Severity | None = None
    action: ActionName | None = None
    reason: str | None = None
    dry_run: bool = False
    mine: bool = False
    clock: str | None = None  # a time of day ("at 9am"; "since 9am" is read before)
    moment: str | None = None  # words after "since" that name no moment ("since lunch")
    corrected: dict[str, str] = field(default_factory=dict)
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # masked for the classifier


def _digits(name: str) -> str:
    return "".join(c for c in name if c.isdigit())


def near(name: str, known: frozenset[str]) -> str | None:
    """The known name ``name`` is most likely a typo of, if any (same digits, close spelling,
    case ignored)."""
    lowered = {k.lower(): k for k in known}
    if name.lower() in lowered:
        return lowered[name.lower()]
    same_digits = [k for k in lowered if _digits(k) == _digits(name)]
    close = difflib.get_close_matches(name.lower(), same_digits, n=1, cutoff=NEAR)
    if not close:
        squashed = {k.replace("-", "").replace("_", ""): k for k in same_digits}
        bare = name.lower().replace("-", "").replace("_", "")
        return lowered[squashed[bare]] if bare in squashed else None
    return lowered[close[0]]


_REASON = re.compile(r"\s+(?:because|bc|coz|cause|reason:|due\s+to)\s+(?P<reason>.+)$", re.I)
# "dry run" said anywhere in a message (its reason too): a message that says it never acts.
DRY_RUN_SAID = re.compile(r"\bdry[- _]?run\b|\bdryrun\b|--dry-run", re.I)
_MINE = re.compile(
    r"\b(?:my|mine|i\s+(?:asked|requested|raised|made|submitted|opened|filed|started)|i've"
    r"\s+(?:asked|requested)|from\s+me|by\s+me)\b",
    re.I,
)
_AMOUNT = r"(?:\d+(?:\.\d+)?|an?|one|two|three|half\s+an?)"
_UNIT = "|".join(sorted(UNITS, key=len, reverse=True))
_LENGTH = rf"{_AMOUNT}\s*(?:{_UNIT})(?:\s*(?:and\s+)?\d+\s*(?:{_UNIT}))?"
_WINDOW = re.compile(rf"\b(?:last|past|previous|prev)\s+(?P<len>{_LENGTH}|(?:{_UNIT}))\b", re.I)
_DURATION = re.compile(
    rf"(?:\b(?:for|next)\s+(?:the\s+)?(?:next\s+)?)?\b(?P<len>{_LENGTH})\b", re.I
)
_PERIOD = re.compile(r"\b(?:" + "|".join(sorted(PERIODS, key=len, reverse=True)) + r")\b", re.I)
_COUNT = re.compile(
    r"\b(?:top|by|add|remove|first)\s+(?P<n>-?\d+|a|an|one|two|three|four|five|ten)\b"
    r"|\b(?P<m>\d+|one|two|three|four|five)\s+(?:more\s+)?(?:instances?|nodes?|boxes|"
    r"resources|metrics|hosts|servers)\b",
    re.I,
)
_HEX = re.compile(r"#?\b(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
                  r"[0-9a-f]{4,32})\b", re.I)  # fmt: skip
_SERVICE = re.compile(
    r"\b(?:restart\w*|reboot\w*|bounc\w*|kick\w*|recycle|cycle|rstrt|rs)\s+(?:the\s+)?"
    r"(?P<svc>[a-z0-9][a-z0-9@._:\-]*)(?:\s+(?:service|daemon|process|unit))?\s+"
    r"(?:on|at|@|in|for)\b"
    r"|\b(?P<svc2>[a-z0-9][a-z0-9@._:\-]*)(?:\s+(?:service|daemon|process))?\s+on\s+\S+\s+"
    r"(?:needs|need)\s+(?:a\s+)?(?:restart|kick|bounce)",
    re.I,
)
_SCRIPT = re.compile(
    r"\brun\s+(?:the\s+)?(?:script\s+)?(?P<script>[a-z0-9][a-z0-9_\-]*)(?:\s+script)?\s+"
    r"(?:on|against)\b",
    re.I,
)
# A time of day ("9am", "9:30 pm", "14:00", "noon"): a moment, never a resource's name.
_CLOCK = re.compile(
    r"\b(?:\d{1,2}(?::[0-5]\d)?\s*(?:am|pm|a\.m\.|p\.m\.)|(?:[01]?\d|2[0-3]):[0-5]\d|noon|midnight)"
    r"(?![\w\-])",
    re.I,
)
# "since" and what follows, when it was not read as a moment before (:mod:`.moments`).
_SINCE_WORDS = re.compile(r"\bsince\s+(?:(?:the|a|an|this|that|our|my|last)\s+)?[^\s,.;:!?]+", re.I)
_RULE_WORD = re.compile(r"\brule\s+(?P<rule>[a-z0-9][a-z0-9_\-]*)", re.I)
_AFTER = re.compile(
    r"\b(?:on|for|with|to|of|from|about|at|@|in|host|instance|server|box)\s+$", re.I
)


def _hex_like(token: str) -> bool:
    bare = token.lstrip("#").lower()
    return (bool(re.fullmatch(r"[0-9a-f]{4,32}", bare)) and any(c.isdigit() for c in bare)) or bool(
        re.fullmatch(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", bare)
    )


def _number(word: str) -> int:
    return NUMBER_WORDS.get(word.lower()) or int(word)


# Verbs and nouns the entity patterns key on, so that a typo of one ("restrat") still finds
# what follows it. Only extraction reads the respelled words: the parser never does.
KEYWORDS = (
    "restart", "reboot", "bounce", "scale", "clean", "silence", "mute", "snooze", "approve",
    "reject", "maintenance", "breaker", "rules", "rule", "anomalies", "reload", "explain",
    "pending", "approvals", "monitoring", "instances", "because",
)  # fmt: skip


def respell(text: str) -> str:
    """``text`` with words a letter or two off a :data:`KEYWORDS` entry spelt right (what
    :func:`extract` and :func:`masked` read; their positions are in the respelled text)."""

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if len(word) < 5 or word.lower() in KEYWORDS:
            return word
        same_length = [k for k in KEYWORDS if abs(len(k) - len(word)) <= 1]
        close = difflib.get_close_matches(word.lower(), same_length, n=1, cutoff=0.8)
        return close[0] if close else word

    return re.sub(r"(?<![\w\-.:/@])[A-Za-z]+(?![\w\-.:/@])", fix, text)  # words, not names


def extract(text: str, knowledge: Knowledge) -> Found:
    text = respell(text)
    found = Found()
    reason = _REASON.search(text)
    if reason:
        found.reason = reason.group("reason").strip()[:300]
        text = text[: reason.start()]
    found.dry_run = bool(DRY_RUN_SAID.search(text))
    found.mine = bool(_MINE.search(text))
    _times(text, found)
    _words(text, found)
    _names(text, knowledge, found)
    return found


def _times(text: str, found: Found) -> None:
    for clock in _CLOCK.finditer(text):
        found.clock = found.clock or clock.group(0)
        found.spans.append((clock.start(), clock.end(), "time"))
    since = _SINCE_WORDS.search(text)
    if since is not None and found.clock is None:
        found.moment = " ".join(since.group(0).split())
    period = _PERIOD.search(text)
    if period:
        found.window_s = PERIODS[" ".join(period.group(0).lower().split())]
        found.spans.append((period.start(), period.end(), "dur"))
    for match in _WINDOW.finditer(text):
        length = match.group("len")
        seconds = UNITS.get(length.lower()) or said_seconds(length)
        if seconds is not None:  # 0 is kept, to be refused as out of range
            found.window_s = seconds
            found.spans.append((match.start(), match.end(), "dur"))
    for match in _DURATION.finditer(text):
        if any(s <= match.start("len") < e for s, e, _ in found.spans):
            continue
        start = match.start("len")
        negative = _negative(text, start)
        if (not negative and _inside_a_word(text, start, match.end("len"))) or _hex_like(
            match.group("len")
        ):
            continue  # "4d4d" is an id, "web-2h" a name
        seconds = said_seconds(match.group("len"))
        if seconds is not None:
            found.duration_s = -seconds if negative else seconds
            found.spans.append((match.start("len"), match.end("len"), "dur"))
    for match in _COUNT.finditer(text):
        word = match.group("n") or match.group("m")
        if any(s <= match.start() < e for s, e, _ in found.spans):
            continue
        found.count = _number(word)  # kept out of range too, to be refused as such


def _negative(text: str, start: int) -> bool:
    """A minus sign before a number that follows a space ("for -1h"), not a name ("web-1h")."""
    return start > 0 and text[start - 1] == "-" and (start == 1 or text[start - 2].isspace())


def _inside_a_word(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return before.isalnum() or before in "-_" or after.isalnum() or after in "-_"


def _words(text: str, found: Found) -> None:
    lowered = text.lower()
    for word in re.findall(r"[a-z0-9]+", lowered):
        if word in SEVERITY_WORDS:
            found.min_severity = SEVERITY_WORDS[word]
    for pattern, action in ACTION_WORDS:
        if pattern.search(text):
            found.action = action
            break
    service = _SERVICE.search(text)
    if service:
        name = (service.group("svc") or service.group("svc2")).lower()
        if name not in STOP:
            found.service = name
    if found.service is None and found.action is ActionName.RESTART_SERVICE:
        for word in re.findall(r"[a-z0-9@._:\-]+", lowered):
            if word in KNOWN_SERVICES:
                found.service = word
                break
    script = _SCRIPT.search(text)
    if script:
        found.script = script.group("script").lower()


def _names(text: str, knowledge: Knowledge, found: Found) -> None:
    resources: list[tuple[int, str, bool]] = []  # (priority, name, corrected)
    for match in TOKEN.finditer(text):
        token, start = match.group(0).rstrip(".,:;!?)'\""), match.start()
        lowered = token.lower()
        if any(s <= start < e for s, e, _ in found.spans) or lowered in NOT_NAMES:
            continue
        after_preposition = bool(_AFTER.search(text[:start]))
        if _hex_like(token) and token.lower() not in {r.lower() for r in knowledge.resources}:
            found.hex_id = found.hex_id or token.lstrip("#").lower()
            found.spans.append((start, start + len(token), "hexid"))
            continue
        if _metric(token, knowledge, found, after_preposition):
            continue
        if _rule(token, knowledge, found):
            continue
        if lowered in knowledge.scripts:
            found.script = found.script or lowered
            continue
        if "*" in token or "?" in token:
            resources.append((0, token, False))
            found.spans.append((start, start + len(token), "rsrc"))
            continue
        known = near(token, knowledge.resources) if _name_shaped(token) else None
        if known is not None and len(token) > 2:
            resources.append((1, known, known != token))
            if known != token:
                found.corrected[token] = known
            found.spans.append((start, start + len(token), "rsrc"))
            continue
        if lowered in STOP or lowered in SEVERITY_WORDS or lowered == found.service:
            continue
        if lowered == found.script or re.fullmatch(r"\d+", token):
            continue
        shaped = _name_shaped(token)
        if shaped or (after_preposition and re.fullmatch(r"[a-z][a-z0-9_\-]{2,}", lowered)):
            if lowered in KNOWN_SERVICES and not shaped:
                continue
            resources.append((2 if shaped else 3, token, False))
            found.spans.append((start, start + len(token), "rsrc"))
    rule = _RULE_WORD.search(text)
    if found.rule is None and rule and rule.group("rule").lower() not in STOP:
        found.rule = rule.group("rule").lower()
    if resources:
        resources.sort(key=lambda r: r[0])
        found.resource = resources[0][1]


def _name_shaped(token: str) -> bool:
    """Looks like a resource name: a digit, a dash or a dot in it (web-1, i-0abc, api.prod)."""
    return bool(re.search(r"[0-9\-.]", token)) and bool(re.search(r"[A-Za-z]", token))


def _metric(token: str, knowledge: Knowledge, found: Found, after_preposition: bool) -> bool:
    lowered = token.lower()
    if lowered in {m.lower() for m in knowledge.metrics} or (
        "_" in token and near(token, knowledge.metrics)
    ):
        metric = near(token, knowledge.metrics) or token
        if metric != token:
            found.corrected[token] = metric
        found.metric = found.metric or metric
        return True
    if "_" in token and re.fullmatch(r"[a-z][a-z0-9_]*", lowered) and not after_preposition:
        found.metric = found.metric or lowered
        return True
    stems = METRIC_ALIASES.get(lowered)
    if stems and found.metric is None:
        for stem in stems:
            matching = sorted(m for m in knowledge.metrics if m.lower().startswith(stem))
            if matching:
                found.metric = min(matching, key=len)
                return True
    return False


def _rule(token: str, knowledge: Knowledge, found: Found) -> bool:
    if not knowledge.rules or "-" not in token:
        return False
    known = near(token, knowledge.rules)
    if known is None:
        return False
    if known != token:
        found.corrected[token] = known
    found.rule = found.rule or known
    return True


def masked(text: str, found: Found) -> str:
    """``text`` with names, ids and lengths of time replaced by placeholders."""
    text = respell(text)
    parts, position = [], 0
    for start, end, label in sorted(found.spans):
        if start < position:
            continue
        parts += [text[position:start], f" {label} "]
        position = end
    parts.append(text[position:])
    return " ".join("".join(parts).lower().split())
