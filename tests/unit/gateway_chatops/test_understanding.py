"""The built-in classifier and entity extraction: trained the same every time, fast enough to
train at start, accurate on the held-out test split, names resolved against what the system
knows, and unsure readings turned into choices rather than guesses."""

from __future__ import annotations

import pytest

from services.gateway.chatops.chat_engine import is_consent
from services.gateway.chatops.classifier import IntentClassifier, load_corpus
from services.gateway.chatops.evaluation import TEST, evaluate
from services.gateway.chatops.extraction import Knowledge, extract, masked, near
from services.gateway.chatops.intents import ActionName, ChatIntent, IntentName
from services.gateway.chatops.parser import parse
from services.gateway.chatops.understanding import Understanding

KNOWN = Knowledge(
    resources=frozenset({"web-1", "web-2", "db-1", "web-asg", "i-0abc123def4567890"}),
    metrics=frozenset({"cpu_utilization", "memory_utilization"}),
    rules=frozenset({"cpu-critical", "disk-filling"}),
)


@pytest.fixture(scope="module")
def understanding() -> Understanding:
    return Understanding(IntentClassifier.train())


def test_training_twice_gives_the_same_model() -> None:
    corpus = load_corpus()
    first = IntentClassifier.train(corpus)
    second = IntentClassifier.train(corpus)
    assert first.version == second.version and first.version.startswith("chatops-")
    for text in ["show pending approvals", "what happened overnight", "bounce nginx on rsrc"]:
        a, b = first.rank(text), second.rank(text)
        assert [g.intent for g in a] == [g.intent for g in b]
        assert [g.probability for g in a] == pytest.approx([g.probability for g in b], abs=0.0)


def test_the_model_version_follows_the_corpus() -> None:
    corpus = load_corpus()
    other = load_corpus(TEST)
    assert IntentClassifier.train(corpus).version != IntentClassifier.train(other).version


def test_test_split_accuracy_stays_well_above_the_parsers() -> None:
    scores = evaluate()
    assert scores["parser"].total >= 150
    assert len(load_corpus().examples) + scores["parser"].total >= 300
    combined, parser = scores["combined"], scores["parser"]
    assert combined.intent_accuracy >= 0.85, combined.misses
    assert combined.entity_accuracy >= 0.85, combined.misses
    assert combined.intent_accuracy > parser.intent_accuracy + 0.3


def test_the_test_split_shares_no_phrasing_with_training() -> None:
    train = {e.text.lower() for e in load_corpus().examples}
    test = {e.text.lower() for e in load_corpus(TEST).examples}
    assert train.isdisjoint(test)


@pytest.mark.parametrize(
    ("text", "intent", "entities"),
    [
        ("any approvals pending?", IntentName.PENDING_APPROVALS, {}),
        ("approvals i asked for", IntentName.PENDING_APPROVALS, {"mine": True}),
        ("has the breaker tripped", IntentName.SAFETY_STATE, {}),
        ("which policies run in shadow mode", IntentName.RULES, {}),
        ("how many actions today", IntentName.SUMMARY, {"window_s": 86400}),
        ("what did i miss last night", IntentName.SUMMARY, {"window_s": 43200}),
        ("top 3 noisiest hosts this week", IntentName.NOISIEST, {"count": 3, "window_s": 604800}),
        (
            "why is cpu on web-2 anomalous",
            IntentName.EXPLAIN_ANOMALY,
            {"resource": "web-2", "metric": "cpu_utilization"},
        ),
        (
            "put web-2 in maintenance for 1h",
            IntentName.START_MAINTENANCE,
            {"resource": "web-2", "duration_s": 3600},
        ),
        (
            "kick gunicorn on web-1, it's stuck",
            IntentName.RUN_ACTION,
            {"action": ActionName.RESTART_SERVICE, "resource": "web-1", "service": "gunicorn"},
        ),
    ],
)
def test_free_words_become_the_intent_with_its_entities(
    understanding: Understanding, text: str, intent: IntentName, entities: dict[str, object]
) -> None:
    understood = understanding.understand(text, KNOWN)
    assert understood.chat is not None, understood
    defaults = {"window_s": 86400} if intent in (IntentName.SUMMARY, IntentName.NOISIEST) else {}
    if intent is IntentName.START_MAINTENANCE:
        defaults = {"duration_s": 3600}
    assert understood.chat == ChatIntent.of(intent, **{**defaults, **entities})


def test_exact_commands_are_the_parsers_and_fully_sure(understanding: Understanding) -> None:
    understood = understanding.understand("show pending approvals", KNOWN)
    assert (understood.source, understood.confidence) == ("parser", 1.0)
    assert understood.chat == ChatIntent.of(IntentName.PENDING_APPROVALS)


def test_a_near_miss_is_read_as_the_known_name_and_said(understanding: Understanding) -> None:
    understood = understanding.understand("restart nginx on wbe-1", KNOWN)
    assert understood.chat is not None and understood.chat.entities.resource == "web-1"
    assert understood.corrected == {"wbe-1": "web-1"}
    free = understanding.understand("is web1 having trouble", KNOWN)
    assert free.chat is not None and free.chat.entities.resource == "web-1"
    assert free.corrected == {"web1": "web-1"}
    rule = understanding.understand("unshadow rule cpu-critcal", KNOWN)
    assert rule.chat is not None and rule.chat.entities.rule == "cpu-critical"


def test_siblings_and_unknown_names_are_kept_as_said(understanding: Understanding) -> None:
    assert near("web-3", KNOWN.resources) is None  # another host, not a typo of web-1
    understood = understanding.understand("what's wrong with web-3", KNOWN)
    assert understood.chat is not None and understood.chat.entities.resource == "web-3"
    assert understood.corrected == {}


def test_unsure_offers_the_likeliest_readings(understanding: Understanding) -> None:
    understood = understanding.understand("kindly perform the usual ritual upon web-1", KNOWN)
    assert understood.chat is None and understood.source is None
    assert 1 <= len(understood.options) <= 3
    assert understood.confidence < understanding.threshold


def test_sure_of_the_intent_but_missing_a_name_says_which(understanding: Understanding) -> None:
    understood = understanding.understand("please restart nginx", KNOWN)
    assert understood.chat is None and understood.intent is IntentName.RUN_ACTION
    assert "resource" in understood.missing


def test_small_talk_is_not_forced_onto_an_intent(understanding: Understanding) -> None:
    understood = understanding.understand("tell me a joke about cats", KNOWN)
    assert understood.chat is None


def test_entities_found_in_slack_shorthand() -> None:
    found = extract("rs nginx @ web-2 --dry-run bc workers hung", KNOWN)
    assert (found.action, found.service, found.resource) == (
        ActionName.RESTART_SERVICE,
        "nginx",
        "web-2",
    )
    assert found.dry_run and found.reason == "workers hung"
    ids = extract("approve #4f1c", KNOWN)
    assert ids.hex_id == "4f1c" and ids.duration_s is None  # "4f1c" is no length of time
    days = extract("approve 4d4d", KNOWN)
    assert days.hex_id == "4d4d" and days.duration_s is None
    times = extract("mute web-* for 90 min", KNOWN)
    assert (times.resource, times.duration_s) == ("web-*", 5400)
    assert masked("mute web-* for 90 min", times) == "mute rsrc for dur"


def test_every_reading_is_a_command_the_parser_reads_back(understanding: Understanding) -> None:
    """What a proposal tells people to send is understood exactly, as the same intent."""
    for corpus in (load_corpus(), load_corpus(TEST)):
        for example in corpus.examples:
            chat = understanding.understand(example.text, corpus.knowledge).chat
            if chat is None:
                continue
            command = chat.as_command()
            back = parse(command)
            assert isinstance(back, ChatIntent), command
            assert back.as_command() == command


@pytest.mark.parametrize("text", ["yes", "Yes!", "do it", "go ahead", "confirm", "y"])
def test_consent_words(text: str) -> None:
    assert is_consent(text)


@pytest.mark.parametrize(
    "text", ["yes restart web-2", "ok", "no", "yesterday", "go ahead with 7d2e"]
)
def test_not_consent(text: str) -> None:
    assert not is_consent(text)
