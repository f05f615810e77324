"""Model versions in Redis: what one detector process saves, every other lists, loads and
activates, and activations from several processes at once are never lost."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis

from services.detector.model_store import ModelStore, NoPreviousVersionError, UnknownVersionError
from services.detector.model_store_redis import RedisModelStore
from tests.support.model_fixtures import TRAINED_ON, StepClock, small_model


def test_a_version_saved_by_one_process_is_loaded_and_activated_by_another(
    redis_url: str,
) -> None:
    one = RedisModelStore(redis.Redis.from_url(redis_url), clock=StepClock())
    other = RedisModelStore(redis.Redis.from_url(redis_url))
    a = one.save(small_model(1), {"trained_on": TRAINED_ON})
    b = one.save(small_model(2), {"trained_on": TRAINED_ON})
    assert [v["version"] for v in other.list_versions()] == [a, b]
    other.activate(a)
    one.activate(b)
    assert other.current() == one.current() == b
    model, meta = other.load(b)
    assert meta["version"] == b and model.feature_names
    assert other.rollback() == a and one.current() == a
    with pytest.raises(NoPreviousVersionError):
        one.rollback()
    with pytest.raises(UnknownVersionError):
        one.activate("20240501T120001000000Z-abcdef12")


def test_activations_from_several_processes_at_once_are_all_recorded(redis_url: str) -> None:
    stores = [RedisModelStore(redis.Redis.from_url(redis_url)) for _ in range(4)]
    versions = [stores[0].save(small_model(s), {"trained_on": TRAINED_ON}) for s in range(4)]
    barrier = threading.Barrier(len(stores))

    def activate_all(store: RedisModelStore, offset: int) -> None:
        barrier.wait()
        for i in range(5):
            store.activate(versions[(offset + i) % len(versions)])

    threads = [
        threading.Thread(target=activate_all, args=(store, n)) for n, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = stores[0].activation_log()
    assert len(log) == 20  # not one activation lost to another process writing at once
    assert stores[1].current() == log[-1]["to"]


def test_models_kept_in_files_before_are_taken_over_once(redis_url: str, tmp_path: Path) -> None:
    files = ModelStore(tmp_path)
    kept = files.save(small_model(3), {"trained_on": TRAINED_ON})
    files.activate(kept)
    store = RedisModelStore(redis.Redis.from_url(redis_url))
    assert store.import_files(tmp_path) == kept
    assert store.current() == kept
    assert store.import_files(tmp_path) is None  # Redis has its own pointer now
    assert store.load(kept)[1]["version"] == kept
