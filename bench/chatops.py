"""ChatOps understanding on the labelled test split (services/gateway/chatops/corpus/test.yaml,
written apart from the training corpus): intent accuracy and entity accuracy of the
deterministic parser, the classifier alone, and both as the engine combines them (parser
first, then the classifier). Also the classifier's training time (CPU seconds)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.gateway.chatops.classifier import IntentClassifier, load_corpus
from services.gateway.chatops.evaluation import evaluate


def main() -> None:
    train = load_corpus()
    started = time.process_time()
    model = IntentClassifier.train(train)
    trained_s = time.process_time() - started
    scores = evaluate()
    test_size = scores["parser"].total
    print(
        f"chatops model {model.version}: {len(train.examples)} training phrasings, "
        f"trained in {trained_s:.2f} s CPU; test split: {test_size} phrasings"
    )
    print(f"{'':<28}{'intent':>8}{'entities':>10}")
    for name, label in (
        ("parser", "deterministic parser"),
        ("classifier", "classifier alone"),
        ("combined", "parser + classifier"),
    ):
        s = scores[name]
        print(f"{label:<28}{s.intent_accuracy:>8.1%}{s.entity_accuracy:>10.1%}")
    print(
        f"(entities: intent and every entity right, over the {scores['parser'].with_entities}"
        " test phrasings that carry entities)"
    )
    combined = scores["combined"]
    print(
        f"asked back (clarifying question) on {combined.asked_back} test phrasings; the right "
        f"intent was among the readings offered on {combined.asked_back_offering_it}"
    )
    if "-v" in sys.argv:
        for miss in scores["combined"].misses:
            print("  miss", miss)


if __name__ == "__main__":
    main()
