"""Model versions in Redis, shared by every detector process (see ``model_store``).

Keys, all in one cluster slot (hash tag ``{models}``) so that a transaction may touch them::

    scops:{models}:blob:<version>    the skops bytes
    scops:{models}:meta:<version>    its metadata (JSON), written after the bytes
    scops:{models}:versions          set of complete versions (added last)
    scops:{models}:active            the pointer {"current", "history", "log"} (JSON)

Activation and rollback read the pointer under ``WATCH`` and write it in ``MULTI``: two
processes changing it at once never lose a change, the second one retries on the first's
result. Processes notice a new current version by reading the pointer (``ModelManager.follow``).

Synchronous (redis-py's blocking client): the manager calls the store from a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import WatchError

from services.detector.model_store import (
    EMPTY_POINTER,
    ModelStore,
    ModelStoreError,
    UnknownVersionError,
    VersionStore,
    _check_name,
    _utc_now,
)
from shared.streams import PREFIX

BASE = f"{PREFIX}:{{models}}"
VERSIONS = f"{BASE}:versions"
ACTIVE = f"{BASE}:active"
WATCH_RETRIES = 50


def blob_key(version: str) -> str:
    return f"{BASE}:blob:{version}"


def meta_key(version: str) -> str:
    return f"{BASE}:meta:{version}"


class RedisModelStore(VersionStore):
    def __init__(self, client: redis.Redis, *, clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(clock=clock)
        self.redis = client

    def _put(self, version: str, blob: bytes, meta: bytes) -> None:
        self.redis.set(blob_key(version), blob)
        self.redis.set(meta_key(version), meta)
        self.redis.sadd(VERSIONS, version)

    def _get(self, version: str) -> tuple[bytes, bytes]:
        _check_name(version)
        blob, meta = self.redis.mget([blob_key(version), meta_key(version)])
        if blob is None or meta is None or not self.redis.sismember(VERSIONS, version):
            raise UnknownVersionError(f"no complete version {version}")
        return bytes(blob), bytes(meta)

    def _metas(self) -> list[bytes]:
        versions = sorted(v.decode() for v in self.redis.smembers(VERSIONS))
        if not versions:
            return []
        metas = self.redis.mget([meta_key(v) for v in versions])
        return [bytes(m) for m in metas if m is not None]

    def _read_pointer(self) -> dict[str, Any]:
        raw = self.redis.get(ACTIVE)
        return _pointer(raw)

    def _change_pointer(self, change: Callable[[dict[str, Any]], str]) -> str:
        for _ in range(WATCH_RETRIES):
            with self.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(ACTIVE)
                    pointer = _pointer(pipe.get(ACTIVE))
                    result = change(pointer)
                    pipe.multi()
                    pipe.set(ACTIVE, json.dumps(pointer))
                    pipe.execute()
                    return result
                except WatchError:
                    continue  # another process changed it meanwhile: decide again on theirs
        raise ModelStoreError("the active model kept changing; try again")

    def import_files(self, root: Path) -> str | None:
        """Copy the versions of a file store (the detector's SCOPS_MODEL_DIR, where models
        lived before they moved to Redis) and its active version, when Redis has none yet."""
        if self.redis.exists(ACTIVE) or not (root / "models").is_dir():
            return None
        files = ModelStore(root)
        for meta in files.list_versions():
            blob, meta_bytes = files._get(meta["version"])
            self._put(meta["version"], blob, meta_bytes)
        current = files.current()
        if current is not None:
            self.redis.set(ACTIVE, json.dumps(files._read_pointer()), nx=True)
        return current


def _pointer(raw: Any) -> dict[str, Any]:
    if raw is None:
        return json.loads(json.dumps(EMPTY_POINTER))  # type: ignore[no-any-return]
    pointer: dict[str, Any] = json.loads(raw)
    return pointer
