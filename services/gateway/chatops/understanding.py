"""How a message is understood, without I/O: the deterministic parser first (exact commands),
then the classifier with the entities found in the words, resolved against what the system
knows.

- The parser understood it: that is the reading (``parser``), whatever the classifier thinks.
- The classifier is at least ``threshold`` sure and its intent has what it needs: that is the
  reading (``classifier``), with the names it corrected (``wbe-1`` -> ``web-1``).
- Sure of the intent but something is missing (which resource?): ask for exactly that.
- Not sure: the likeliest two or three readings, each as a command to send back.

What acts is never run from a classifier reading; the engine proposes it (see ``engine``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.gateway.chatops.classifier import UNKNOWN, Guess, IntentClassifier
from services.gateway.chatops.extraction import Found, Knowledge, extract, masked, near
from services.gateway.chatops.intents import ChatIntent, IntentName
from services.gateway.chatops.parser import parse, tidy
from services.gateway.chatops.reading import Reading, read
from services.gateway.chatops.replies import NotUnderstood

THRESHOLD = 0.45  # below: ask, offering the likeliest readings
OFFERED = 3
OFFER_FLOOR = 0.08  # readings less likely than this are not offered
# A reading that lacks what its intent needs is itself a sign of a wrong intent: it is asked
# for ("which resource?") only when the classifier is this sure, else readings are offered.
SURE_WHEN_MISSING = 0.75
DECISIONS = frozenset({IntentName.APPROVE.value, IntentName.REJECT.value})
# Verbs of what ChatOps does not do, with where it is done. The classifier reads an id next to
# any short verb as an approval's ("ack 1242a153" looks like "nack 3b5d"): a message naming
# one of these is never read as approve or reject.
ELSEWHERE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\back(?:nowledge[ds]?|nowledging|ed|s)?\b", re.I),
        "acknowledging an alert is not a command here: use the Acknowledge button on its "
        "Slack message, or the notifier's `POST /notifications/acknowledgements`",
    ),
    (
        re.compile(
            r"\bfalse[\s-]*(?:positive|alarm)s?\b|\bnot\s+an?\s+(?:real\s+)?(?:anomaly|incident)",
            re.I,
        ),
        "marking a false positive is not a command here: use the False positive button on the "
        "anomaly's Slack message, or the detector's `POST /anomaly/{anomaly_id}/feedback` "
        "(`false_positive`)",
    ),
)


def done_elsewhere(text: str) -> str | None:
    """Where what ``text`` asks is done, when it names an operation ChatOps does not carry
    out; None otherwise."""
    return next((where for pattern, where in ELSEWHERE if pattern.search(text)), None)


@dataclass(frozen=True)
class Understood:
    """One message's reading. ``chat`` is set when it was understood; ``options`` when it was
    not sure (commands to send back); ``missing`` when the intent lacks an entity."""

    source: str | None  # "parser", "classifier" or None
    chat: ChatIntent | None = None
    intent: IntentName | None = None
    confidence: float = 0.0
    corrected: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    hint: str | None = None  # the parser's, when it recognised a command but not all of it
    refusal: str | None = None  # a value said outside its range: the answer, nothing else
    defaulted: tuple[str, ...] = ()  # entities given their default: no value was read
    elsewhere: str | None = None  # an operation ChatOps does not do, and where it is done
    clock: str | None = None  # a time of day said without "since" ("at 9am"): not read
    moment: str | None = None  # "since" and words that name no moment ("since lunch")


def read_exact(text: str, knowledge: Knowledge) -> Understood | NotUnderstood:
    """The parser's reading (or its refusal of a value out of range), which needs no
    classifier; what it does not understand, for the classifier."""
    parsed = parse(text)
    if isinstance(parsed, ChatIntent):
        chat, corrected = resolve(parsed, knowledge)
        return Understood("parser", chat, chat.intent, 1.0, corrected=corrected)
    if parsed.refusal is not None:
        return Understood(None, refusal=parsed.refusal)
    return parsed


class Understanding:
    def __init__(self, classifier: IntentClassifier, threshold: float = THRESHOLD) -> None:
        self.classifier = classifier
        self.threshold = threshold

    @property
    def version(self) -> str:
        return self.classifier.version

    def understand(self, text: str, knowledge: Knowledge) -> Understood:
        exact = read_exact(text, knowledge)
        if isinstance(exact, Understood):
            return exact
        return self.classify(text, knowledge, exact)

    def classify(
        self, text: str, knowledge: Knowledge, parsed: NotUnderstood | None = None
    ) -> Understood:
        cleaned = tidy(text)
        if not cleaned or len(cleaned) > 500:
            return Understood(None, hint=parsed.hint if parsed else None)
        found = extract(cleaned, knowledge)
        guesses = self.classifier.rank(masked(cleaned, found))
        elsewhere = done_elsewhere(cleaned)
        if elsewhere is not None:
            if guesses[0].intent in DECISIONS:
                return Understood(None, elsewhere=elsewhere)
            guesses = [g for g in guesses if g.intent not in DECISIONS]
        best = guesses[0]
        if best.intent == UNKNOWN and best.probability >= self.threshold:
            return Understood(None, hint=parsed.hint if parsed else None)
        if best.probability >= self.threshold:
            reading = read(IntentName(best.intent), found)
            if reading.refusal is not None:
                return Understood(None, intent=reading.intent, refusal=reading.refusal)
            if reading.chat is not None or best.probability >= SURE_WHEN_MISSING:
                return _from_reading(reading, best.probability, found)
        return Understood(
            None,
            confidence=best.probability,
            options=offered(guesses, found),
            hint=parsed.hint if parsed else None,
        )


def resolve(chat: ChatIntent, knowledge: Knowledge) -> tuple[ChatIntent, dict[str, str]]:
    """``chat`` with a resource, metric or rule the system does not know replaced by the known
    one it is a near miss of (``wbe-1`` -> ``web-1``), and what was replaced. Names nothing is
    close to are kept as said: the system does not know every name (a quiet host)."""
    e = chat.entities
    changes: dict[str, str] = {}
    corrected: dict[str, str] = {}
    for name, known in (
        ("resource", knowledge.resources),
        ("metric", knowledge.metrics),
        ("rule", knowledge.rules),
    ):
        said = getattr(e, name)
        if not said or not known or "*" in said or "?" in said or said in known:
            continue
        guess = near(said, known)
        if guess is not None and guess != said:
            changes[name] = guess
            corrected[said] = guess
    if not changes:
        return chat, {}
    entities = e.model_copy(update=changes)
    return ChatIntent(intent=chat.intent, entities=entities), corrected


def _from_reading(reading: Reading, confidence: float, found: Found | None = None) -> Understood:
    return Understood(
        "classifier",
        reading.chat,
        reading.intent,
        confidence,
        corrected=reading.corrected,
        missing=reading.missing,
        defaulted=reading.defaulted,
        clock=found.clock if found else None,
        moment=found.moment if found else None,
    )


def offered(guesses: list[Guess], found: Found) -> tuple[str, ...]:
    """The likeliest readings as commands: with the entities found when they fit, else the
    intent's example."""
    commands: list[str] = []
    for guess in guesses:
        if len(commands) == OFFERED or guess.probability < OFFER_FLOOR:
            break
        if guess.intent == UNKNOWN:
            continue
        reading = read(IntentName(guess.intent), found)
        command = reading.chat.as_command() if reading.chat else EXAMPLES[reading.intent]
        if command not in commands:
            commands.append(command)
    return tuple(commands)


# An example of each intent, offered when the words lack what the intent needs.
EXAMPLES: dict[IntentName, str] = {
    IntentName.STATUS: "status",
    IntentName.HELP: "help",
    IntentName.RESOURCE_HEALTH: "what's wrong with <resource>",
    IntentName.RECENT_ANOMALIES: "anomalies in the last hour",
    IntentName.ACTION_HISTORY: "what happened to <resource>",
    IntentName.RUN_ACTION: "restart <service> on <resource>",
    IntentName.APPROVE: "approve <approval id>",
    IntentName.REJECT: "reject <approval id>",
    IntentName.SILENCE: "silence <resource> for 1h",
    IntentName.PENDING_APPROVALS: "pending approvals",
    IntentName.SAFETY_STATE: "safety state",
    IntentName.RULES: "rules",
    IntentName.SUMMARY: "summary of the last 1d",
    IntentName.NOISIEST: "noisiest in the last 1d",
    IntentName.EXPLAIN_ANOMALY: "explain the latest anomaly on <resource>",
    IntentName.RESET_BREAKER: "reset the breaker",
    IntentName.RELOAD_RULES: "reload rules",
    IntentName.UNSHADOW_RULE: "unshadow rule <rule>",
    IntentName.START_MAINTENANCE: "maintenance on <resource> for 1h",
}
