"""The embedded intent classifier: character n-grams and a logistic regression, trained from
the paraphrase corpus kept beside this module (``corpus/train.yaml``), offline.

Training takes a fraction of a second (a few hundred short lines), so the gateway trains it
when it starts rather than shipping a model file: the corpus is the model's source, and the
model's version is the hash of that corpus and of scikit-learn's version (the same corpus and
library always give the same model: lbfgs is deterministic, nothing is sampled). Messages
are read with their names, ids and lengths of time masked (:func:`.extraction.masked`), so
"restart nginx on web-1" and "restart nginx on pool-a" look alike.

``unknown`` is a class of its own (small talk, things the system does not do): a message
read as ``unknown`` is not forced onto the nearest intent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

if TYPE_CHECKING:
    # scikit-learn takes seconds to import: it is imported when the classifier is trained,
    # which the gateway does off its event loop (see ``classifier_loading``).
    from sklearn.pipeline import Pipeline

from services.gateway.chatops.extraction import Knowledge, extract, masked

CORPUS_DIR = Path(__file__).parent / "corpus"
TRAIN = CORPUS_DIR / "train.yaml"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: dict[str, Any]


@dataclass(frozen=True)
class Corpus:
    examples: list[Example]
    knowledge: Knowledge  # the names the examples use, standing for a system's
    digest: str


def load_corpus(path: Path = TRAIN) -> Corpus:
    raw = path.read_bytes()
    data = yaml.safe_load(raw)
    known = data.get("knowledge", {})
    knowledge = Knowledge(
        resources=frozenset(known.get("resources", [])),
        metrics=frozenset(known.get("metrics", [])),
        rules=frozenset(known.get("rules", [])),
        scripts=frozenset(known.get("scripts", [])),
    )
    examples = [
        Example(str(row["q"]), str(row["i"]), dict(row.get("e") or {})) for row in data["examples"]
    ]
    return Corpus(examples, knowledge, hashlib.sha256(raw).hexdigest())


@dataclass(frozen=True)
class Guess:
    intent: str
    probability: float


class IntentClassifier:
    def __init__(self, pipeline: Pipeline, version: str) -> None:
        self.pipeline = pipeline
        self.version = version

    @classmethod
    def train(cls, corpus: Corpus | None = None) -> IntentClassifier:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, Pipeline

        corpus = corpus or load_corpus()
        texts = [masked(e.text, extract(e.text, corpus.knowledge)) for e in corpus.examples]
        features = FeatureUnion(
            [
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
                ),
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ]
        )
        pipeline = Pipeline(
            [("features", features), ("model", LogisticRegression(C=20.0, max_iter=3000))]
        )
        # One BLAS thread: on a small problem more threads only spin (ten times the CPU).
        with threadpool_limits(1):
            pipeline.fit(texts, [e.intent for e in corpus.examples])
        model_version = f"chatops-{corpus.digest[:12]}-sklearn{package_version('scikit-learn')}"
        return cls(pipeline, model_version)

    def rank(self, masked_text: str) -> list[Guess]:
        """Every intent with its probability, likeliest first."""
        with threadpool_limits(1):
            probabilities = self.pipeline.predict_proba([masked_text])[0]
        classes = self.pipeline.classes_
        ranked = sorted(zip(classes, probabilities, strict=True), key=lambda p: -p[1])
        return [Guess(str(c), float(p)) for c, p in ranked]
