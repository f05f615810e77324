"""Model files: skops round trip, refusal of untrusted types, activation and rollback."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import sklearn
import skops.io as sio

from services.detector.model_store import (
    CorruptModelError,
    ModelStore,
    NoPreviousVersionError,
    UnknownVersionError,
    UntrustedModelError,
)
from services.detector.multivariate_live import ResourceScaler
from services.detector.training import build_training_set, train
from tests.support.model_fixtures import NAMES, TRAINED_ON, StepClock, rows, small_model


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path, clock=StepClock())


def test_round_trip_gives_identical_scores_and_full_metadata(store: ModelStore) -> None:
    model = small_model(1)
    version = store.save(model, {"trained_on": TRAINED_ON})
    loaded, meta = store.load(version)
    probe = rows(99, 500)
    assert np.array_equal(loaded.score_batch(probe), model.score_batch(probe))
    assert loaded.explain(probe[0]) == model.explain(probe[0])
    assert meta["version"] == version and meta["trained_on"] == TRAINED_ON
    assert meta["feature_names"] == list(NAMES)
    assert meta["sklearn_version"] == sklearn.__version__
    assert meta["holdout"]["rows"] == 80 and 0 <= meta["holdout"]["fraction_above_threshold"] <= 1
    assert meta["trained_at"] == meta["saved_at"] == "2024-05-01T12:00:01+00:00"
    assert version.startswith("20240501T120001000000Z-")
    assert [v["version"] for v in store.list_versions()] == [version]


def test_a_file_needing_untrusted_types_is_refused(store: ModelStore) -> None:
    version = store.save(small_model(1), {"trained_on": TRAINED_ON})
    path = store.root / "models" / f"{version}.skops"
    state = small_model(1).to_state()
    state["arrays"] = {**state["arrays"], "center": os.system}  # what an attacker would plant
    sio.dump(state, path)
    with pytest.raises(UntrustedModelError, match="system"):
        store.load(version)
    with pytest.raises(UntrustedModelError):
        store.activate(version)
    path.write_bytes(b"not a skops archive")
    with pytest.raises(CorruptModelError):
        store.load(version)
    assert store.current() is None


def test_version_names_cannot_escape_the_store(store: ModelStore) -> None:
    for name in ("../../etc/passwd", "20240501T120001000000Z-abcdef12", ""):
        with pytest.raises(UnknownVersionError):
            store.load(name)
        with pytest.raises(UnknownVersionError):
            store.activate(name)


def test_activate_rollback_and_current(store: ModelStore) -> None:
    assert store.current() is None
    with pytest.raises(NoPreviousVersionError):
        store.rollback()
    a, b, c = (store.save(small_model(seed), {"trained_on": TRAINED_ON}) for seed in (1, 2, 3))
    assert a < b < c
    store.activate(a)
    store.activate(b)
    store.activate(b)  # already current: not a second history entry
    store.activate(c)
    assert store.current() == c
    assert ModelStore(store.root).current() == c  # persisted
    assert store.rollback() == b and store.current() == b
    assert store.rollback() == a and store.current() == a
    with pytest.raises(NoPreviousVersionError):
        store.rollback()
    store.activate(c)
    assert store.rollback() == a
    actions = [(e["action"], e["to"]) for e in store.activation_log()]
    assert actions[-3:] == [("rollback", a), ("activate", c), ("rollback", a)]
    listed = store.list_versions()
    assert [v["version"] for v in listed] == [a, b, c]
    assert all(v["trained_on"] == TRAINED_ON for v in listed)


def test_incomplete_versions_are_invisible(store: ModelStore) -> None:
    """A crash mid-save leaves a temp file, or a model file without its metadata."""
    version = store.save(small_model(1), {"trained_on": TRAINED_ON})
    (store.root / "tmp" / "crash.part").write_bytes(b"half a model")
    (store.root / "models" / f"{version}.json").rename(store.root / "elsewhere.json")
    assert store.list_versions() == []
    with pytest.raises(UnknownVersionError):
        store.activate(version)


def test_concurrent_saves_never_expose_a_half_written_current_model(tmp_path: Path) -> None:
    """One thread saves and activates while another keeps loading whatever is current."""
    store = ModelStore(tmp_path)
    models = [small_model(seed) for seed in range(4)]
    store.activate(store.save(models[0], {"trained_on": TRAINED_ON}))
    done = threading.Event()
    errors: list[BaseException] = []
    loads = 0
    probe = rows(99, 50)

    def writer() -> None:
        try:
            for i in range(12):
                store.activate(store.save(models[i % 4], {"trained_on": TRAINED_ON, "i": i}))
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        nonlocal loads
        try:
            while not done.is_set() or loads == 0:
                version = store.current()
                assert version is not None
                model, meta = store.load(version)
                assert meta["version"] == version
                assert model.score_batch(probe).shape == (50,)
                loads += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert loads > 0
    assert len(store.list_versions()) >= 4
    assert list((tmp_path / "tmp").iterdir()) == []
    pointer = json.loads((tmp_path / "active.json").read_text())
    assert pointer["current"] == store.current() and len(pointer["history"]) == 13


def test_a_model_of_resources_that_send_only_some_feature_metrics_is_kept(
    store: ModelStore,
) -> None:
    """Training from the streams' history on resources that never send one of the feature
    metrics (disk here): the version is saved with a scaler that reads back finite."""
    rng = np.random.default_rng(7)
    samples = []
    for r in range(4):
        for minute in range(200):
            load = float(rng.uniform(20, 80))
            samples.append((f"web-{r}", "cpu_utilization", 60.0 * minute, 10 * r + load))
            samples.append((f"web-{r}", "memory_utilization", 60.0 * minute, 30 + load / 2))
    training = build_training_set(samples, NAMES, bucket_s=60.0, min_metrics=2)
    model = train(training, NAMES, 0, 0.999)
    version = store.save(model, {"trained_on": TRAINED_ON, "scaler": training.scaler.to_state()})
    _, meta = store.load(version)
    scaler = ResourceScaler.from_state(meta["scaler"])
    live = np.array([[55.0, 57.0, np.nan]])
    scaled = scaler.transform(["web-1"], live)
    assert np.isfinite(scaled[0, :2]).all() and np.isnan(scaled[0, 2])
