"""Accuracy of understanding on a labelled split (corpus/test.yaml): the share of phrasings
whose intent is right, and whose intent and every entity are right, for the deterministic
parser alone, the classifier alone, and both as the engine combines them (no I/O).

A phrasing labelled ``unknown`` is right when nothing is understood. Entities are compared as
the validated :class:`ChatIntent` holds them, defaults included (a summary "overnight" is 12 h).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.gateway.chatops.classifier import (
    CORPUS_DIR,
    UNKNOWN,
    Corpus,
    Example,
    IntentClassifier,
    load_corpus,
)
from services.gateway.chatops.extraction import Knowledge
from services.gateway.chatops.intents import ChatIntent, IntentName
from services.gateway.chatops.parser import parse
from services.gateway.chatops.reading import DEFAULTS
from services.gateway.chatops.understanding import EXAMPLES, Understanding

TEST = CORPUS_DIR / "test.yaml"


@dataclass
class Score:
    total: int = 0
    intents_right: int = 0
    with_entities: int = 0
    entities_right: int = 0
    misses: list[str] = field(default_factory=list)
    asked_back: int = 0  # answered with a clarifying question
    asked_back_offering_it: int = 0  # ... whose offered readings include the right intent

    @property
    def intent_accuracy(self) -> float:
        return self.intents_right / self.total if self.total else 0.0

    @property
    def entity_accuracy(self) -> float:
        return self.entities_right / self.with_entities if self.with_entities else 0.0


def expected(example: Example) -> ChatIntent | None:
    if example.intent == UNKNOWN:
        return None
    intent = IntentName(example.intent)
    return ChatIntent.of(intent, **{**DEFAULTS.get(intent, {}), **example.entities})


Reader = Callable[[str, Knowledge], ChatIntent | str | None]  # a ChatIntent, an intent, None


def score(corpus: Corpus, reader: Reader) -> Score:
    result = Score()
    for example in corpus.examples:
        gold = expected(example)
        got = reader(example.text, corpus.knowledge)
        got_intent = got.intent.value if isinstance(got, ChatIntent) else got
        result.total += 1
        intent_right = got_intent == (gold.intent.value if gold else None)
        result.intents_right += intent_right
        has_entities = gold is not None and bool(gold.entities.model_dump(exclude_defaults=True))
        if has_entities:
            result.with_entities += 1
            right = isinstance(got, ChatIntent) and got == gold
            result.entities_right += right
            if intent_right and not right:
                result.misses.append(f"entities: {example.text!r} -> {_said(got)}")
        if not intent_right:
            result.misses.append(f"intent: {example.text!r} ({example.intent}) -> {_said(got)}")
    return result


def _said(got: ChatIntent | str | None) -> str:
    return got.as_command() if isinstance(got, ChatIntent) else str(got)


def parser_reader(text: str, _: Knowledge) -> ChatIntent | str | None:
    parsed = parse(text)
    return parsed if isinstance(parsed, ChatIntent) else None


def understanding_readers(understanding: Understanding) -> tuple[Reader, Reader]:
    """The classifier alone (the parser skipped), and parser then classifier."""

    def classifier_only(text: str, knowledge: Knowledge) -> ChatIntent | str | None:
        return _answer(understanding.classify(text, knowledge))

    def combined(text: str, knowledge: Knowledge) -> ChatIntent | str | None:
        return _answer(understanding.understand(text, knowledge))

    return classifier_only, combined


def _answer(understood: object) -> ChatIntent | str | None:
    chat = getattr(understood, "chat", None)
    if chat is not None:
        return chat  # type: ignore[no-any-return]
    intent = getattr(understood, "intent", None)
    return intent.value if intent is not None else None


def count_questions(corpus: Corpus, understanding: Understanding, result: Score) -> None:
    """How often the combined reading asks back, and offers the right intent when it does."""
    for example in corpus.examples:
        understood = understanding.understand(example.text, corpus.knowledge)
        if understood.chat is not None or not (understood.options or understood.missing):
            continue
        result.asked_back += 1
        offered = {parse_intent(option) for option in understood.options}
        if understood.intent is not None:
            offered.add(understood.intent.value)
        result.asked_back_offering_it += example.intent in offered


def parse_intent(command: str) -> str | None:
    """The intent an offered reading stands for: an intent's example, or a command."""
    examples = {example: intent.value for intent, example in EXAMPLES.items()}
    if command in examples:
        return examples[command]
    parsed = parse(command)
    return parsed.intent.value if isinstance(parsed, ChatIntent) else None


def evaluate(test: Path = TEST) -> dict[str, Score]:
    understanding = Understanding(IntentClassifier.train(load_corpus()))
    corpus = load_corpus(test)
    classifier_only, combined = understanding_readers(understanding)
    scores = {
        "parser": score(corpus, parser_reader),
        "classifier": score(corpus, classifier_only),
        "combined": score(corpus, combined),
    }
    count_questions(corpus, understanding, scores["combined"])
    return scores
