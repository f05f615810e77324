"""The ChatOps classifier, trained once per process off the event loop.

Training imports scikit-learn and fits on the shipped corpus: a few seconds of CPU, which
used to hold every gateway's start (ingest included) until done. Now the gateway is ready
without it; training starts in a thread at start (``chatops_warm_start``, the default) or
when the first message needs it, and a message that arrives meanwhile waits for it, never the
event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from services.gateway.chatops.classifier import IntentClassifier
from services.gateway.chatops.understanding import Understanding

log = structlog.get_logger("gateway.chatops")


class ClassifierLoader:
    def __init__(self, train: Callable[[], IntentClassifier] = IntentClassifier.train) -> None:
        self._train = train
        self._built: asyncio.Future[Understanding | None] | None = None
        self._after_built: list[Callable[[], None]] = []

    def start(self) -> None:
        """Begin training now, in a thread (from a running event loop)."""
        if self._built is None:
            self._built = asyncio.ensure_future(asyncio.to_thread(self._build))
            for call in self._after_built:
                self._call_when_built(call)

    def after_built(self, call: Callable[[], None]) -> None:
        """Call ``call`` on the event loop once training has ended (at once if it has), whether
        it starts now, at start or with the first message."""
        if self._built is None:
            self._after_built.append(call)
        else:
            self._call_when_built(call)

    def _call_when_built(self, call: Callable[[], None]) -> None:
        assert self._built is not None
        self._built.add_done_callback(lambda _done: call())

    async def understanding(self) -> Understanding | None:
        """The trained classifier; None when its corpus could not be read (a broken install:
        ChatOps still reads exact commands)."""
        self.start()
        assert self._built is not None
        # Shielded: a request given up (client gone) must not cancel everyone's training.
        return await asyncio.shield(self._built)

    def _build(self) -> Understanding | None:
        try:
            understanding = Understanding(self._train())
        except OSError as exc:
            log.error("chatops_classifier_unavailable", error=type(exc).__name__)
            return None
        log.info("chatops_classifier_trained", model=understanding.version)
        return understanding
