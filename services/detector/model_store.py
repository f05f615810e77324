"""Versioned multivariate models, saved with skops (never pickle), on disk or in Redis.

``ModelStore`` keeps them in files (one process, or tests); ``RedisModelStore``
(``model_store_redis``) keeps them in Redis, shared by every detector process: a version trained
by one is listed, loaded and activated by all, and activation is one atomic change of the active
pointer whichever process makes it. Both share everything but where bytes live
(:class:`VersionStore`).

Layout of the files under ``root``::

    models/<version>.skops   the model state (see ``MultivariateModel.to_state``)
    models/<version>.json    its metadata; written last, so its presence marks a complete version
    tmp/                     files being written; renamed into place with ``os.replace``
    active.json              {"current": version, "history": [...], "log": [...]}

A version is ``<UTC timestamp>-<first 8 hex of the SHA-256 of model and metadata>``, so names
sort by time and say what they hold. Every file is written to ``tmp/`` and renamed, so a
reader never sees half a file; ``active.json`` changes under a lock, so a training thread and
readers can share a store. Several *processes* activating at once are not serialised there:
that is what the Redis store is for.

Loading checks the file's types before building anything: skops lists the types it would
have to trust, and anything beyond the one this model needs is refused.

Errors: ``ModelStoreError``, with ``UnknownVersionError``, ``UntrustedModelError``,
``CorruptModelError`` and ``NoPreviousVersionError`` beneath it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from services.detector.multivariate import ModelFormatError, MultivariateModel

# Types outside skops' default trusted set that a MultivariateModel's state contains. The
# forest's estimators, numpy arrays and plain containers are trusted by skops already.
TRUSTED_TYPES = frozenset({"sklearn.tree._tree.Tree"})
_VERSION = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}\Z")
_HISTORY_KEPT = 50
_LOG_KEPT = 200


class ModelStoreError(Exception):
    """Base of the store's errors."""


class UnknownVersionError(ModelStoreError):
    """No complete version of that name (or the name is not a version name)."""


class UntrustedModelError(ModelStoreError):
    """The file would need types this code does not trust."""


class CorruptModelError(ModelStoreError):
    """The file loads but does not hold a model this code can rebuild."""


class NoPreviousVersionError(ModelStoreError):
    """Nothing to roll back to."""


class ModelDoesNotFitError(ModelStoreError):
    """The version was trained on other metrics than the detector is configured with."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _skops_io() -> Any:
    """skops' reader and writer, imported on first use: with scikit-learn it takes seconds,
    which a detector that never trains or loads a model should not spend at start."""
    import skops.io

    return skops.io


def _check_types(data: bytes, name: str) -> None:
    """Refuse a file whose schema names any type outside skops' defaults and ours."""
    sio = _skops_io()
    try:
        found = set(sio.get_untrusted_types(data=data))
    except Exception as exc:  # not a skops archive at all
        raise CorruptModelError(f"{name}: unreadable: {exc!r}") from exc
    extra = found - TRUSTED_TYPES
    if extra:
        raise UntrustedModelError(f"{name} needs untrusted types {sorted(extra)}; refused")


class VersionStore(ABC):
    """Versions, their metadata and the active pointer; subclasses say where bytes live."""

    def __init__(self, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock

    # -- where bytes live ----------------------------------------------------------------------

    @abstractmethod
    def _put(self, version: str, blob: bytes, meta: bytes) -> None:
        """Store a version; its metadata last, so that a half-saved version stays invisible."""

    @abstractmethod
    def _get(self, version: str) -> tuple[bytes, bytes]:
        """The model bytes and metadata of a complete version (``UnknownVersionError``)."""

    @abstractmethod
    def _metas(self) -> list[bytes]:
        """Metadata of every complete version, oldest first."""

    @abstractmethod
    def _read_pointer(self) -> dict[str, Any]: ...

    @abstractmethod
    def _change_pointer(self, change: Callable[[dict[str, Any]], str]) -> str:
        """Apply ``change`` to the pointer and store it, as one atomic step; its result."""

    # -- the store -----------------------------------------------------------------------------

    def save(self, model: MultivariateModel, metadata: dict[str, Any]) -> str:
        """Write a new version (not activated) and return its name.

        ``metadata`` is the caller's description - by convention ``trained_on`` (series
        count, samples, time range, excluded ranges) and optionally ``trained_at``. The store
        adds the model's holdout figures and feature names and the library versions; its own
        keys win over the caller's.
        """
        import sklearn

        sio = _skops_io()
        blob = sio.dumps(model.to_state())
        extra = set(sio.get_untrusted_types(data=blob)) - TRUSTED_TYPES
        if extra:  # refuse to write what load would refuse to read
            raise UntrustedModelError(f"model state needs untrusted types {sorted(extra)}")
        now = self._clock().astimezone(UTC)
        summary = model.summary
        meta = {"trained_at": now.isoformat(), **metadata}
        meta |= {
            "saved_at": now.isoformat(),
            "feature_names": list(model.feature_names),
            "holdout": {
                "rows": summary.n_holdout,
                "mean_score": summary.holdout_mean_score,
                "fraction_above_threshold": summary.holdout_fraction_above,
                "threshold": summary.threshold,
            },
            "training": {
                "rows": summary.n_train,
                "n_estimators": summary.n_estimators,
                "max_samples": summary.max_samples,
                "random_state": summary.random_state,
                "contamination": summary.contamination,
            },
            "sklearn_version": sklearn.__version__,
            "skops_version": package_version("skops"),
            "numpy_version": np.__version__,
        }
        try:
            meta_bytes = json.dumps(meta, sort_keys=True, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ModelStoreError(f"metadata is not plain JSON: {exc}") from exc
        digest = hashlib.sha256(blob + b"\0" + meta_bytes).hexdigest()[:8]
        version = f"{now:%Y%m%dT%H%M%S%f}Z-{digest}"
        meta["version"] = version
        self._put(version, blob, json.dumps(meta, indent=2).encode())
        return version

    def load(self, version: str) -> tuple[MultivariateModel, dict[str, Any]]:
        _check_name(version)
        data, meta_bytes = self._get(version)  # checked and loaded from the same bytes
        _check_types(data, version)
        sio = _skops_io()
        try:
            state = sio.loads(data, trusted=sorted(TRUSTED_TYPES))
            model = MultivariateModel.from_state(state)
        except ModelFormatError as exc:
            raise CorruptModelError(f"{version}: {exc}") from exc
        except Exception as exc:  # skops raises many kinds on a damaged archive
            raise CorruptModelError(f"{version}: cannot load: {exc!r}") from exc
        meta: dict[str, Any] = json.loads(meta_bytes)
        return model, meta

    def current(self) -> str | None:
        current = self._read_pointer()["current"]
        return None if current is None else str(current)

    def activate(self, version: str, check: Callable[[str], None] | None = None) -> None:
        """Make ``version`` current, after checking its file's types (and ``check``, which
        raises to refuse it: nothing is moved then)."""
        _check_name(version)
        _check_types(self._get(version)[0], version)
        if check is not None:
            check(version)

        def change(pointer: dict[str, Any]) -> str:
            if pointer["current"] != version:
                pointer["history"] = [*pointer["history"], version][-_HISTORY_KEPT:]
            self._point(pointer, "activate", version)
            return version

        self._change_pointer(change)

    def rollback(self, check: Callable[[str], None] | None = None) -> str:
        """Return to the version active before the current one (undo, repeatable);
        ``check`` may refuse that version (it raises; nothing is moved then)."""

        def change(pointer: dict[str, Any]) -> str:
            history: list[str] = pointer["history"]
            if len(history) < 2:
                raise NoPreviousVersionError("no earlier activation to roll back to")
            previous = history[-2]
            _check_types(self._get(previous)[0], previous)
            if check is not None:
                check(previous)
            pointer["history"] = history[:-1]
            self._point(pointer, "rollback", previous)
            return previous

        return self._change_pointer(change)

    def activation_log(self) -> list[dict[str, str]]:
        log: list[dict[str, str]] = self._read_pointer()["log"]
        return log

    def list_versions(self) -> list[dict[str, Any]]:
        """Metadata of every complete version, oldest first."""
        return [json.loads(meta) for meta in self._metas()]

    def _point(self, pointer: dict[str, Any], action: str, version: str) -> None:
        pointer["current"] = version
        entry = {"at": self._clock().astimezone(UTC).isoformat(), "action": action, "to": version}
        pointer["log"] = [*pointer["log"], entry][-_LOG_KEPT:]


def _check_name(version: str) -> None:
    if not _VERSION.match(version):  # also keeps "../x" out of paths and keys
        raise UnknownVersionError(f"not a version name: {version!r}")


EMPTY_POINTER: dict[str, Any] = {"current": None, "history": [], "log": []}


class ModelStore(VersionStore):
    """Versions as files under ``root`` (see the module's docstring)."""

    def __init__(self, root: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(clock=clock)
        self.root = root
        self._models = root / "models"
        self._tmp = root / "tmp"
        self._pointer = root / "active.json"
        self._lock = threading.Lock()
        self._models.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _put(self, version: str, blob: bytes, meta: bytes) -> None:
        self._write(self._models / f"{version}.skops", blob)
        self._write(self._models / f"{version}.json", meta)

    def _get(self, version: str) -> tuple[bytes, bytes]:
        _check_name(version)
        model_path = self._models / f"{version}.skops"
        meta_path = self._models / f"{version}.json"
        if not (model_path.exists() and meta_path.exists()):
            raise UnknownVersionError(f"no complete version {version}")
        return model_path.read_bytes(), meta_path.read_bytes()

    def _metas(self) -> list[bytes]:
        return [
            path.read_bytes()
            for path in sorted(self._models.glob("*.json"))
            if _VERSION.match(path.stem) and path.with_suffix(".skops").exists()
        ]

    def _read_pointer(self) -> dict[str, Any]:
        try:
            pointer: dict[str, Any] = json.loads(self._pointer.read_text())
        except FileNotFoundError:
            return json.loads(json.dumps(EMPTY_POINTER))  # type: ignore[no-any-return]
        return pointer

    def _change_pointer(self, change: Callable[[dict[str, Any]], str]) -> str:
        with self._lock:
            pointer = self._read_pointer()
            result = change(pointer)
            self._write(self._pointer, json.dumps(pointer, indent=2).encode())
            return result

    def _write(self, path: Path, data: bytes) -> None:
        """Write to a temporary file in ``tmp/``, flush it to disk, rename it into place."""
        fd, tmp = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(path)  # os.replace: atomic on one filesystem
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
