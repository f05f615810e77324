"""Synchronous scoring requests (``POST /anomaly``, ``/anomaly/batch``) run here, off the event
loop that consumes the metric streams.

A batch request can hold 100,000 points: half a second to parse, seconds to score, a fraction of a
second to write out. Done on the event loop, that stalled detection for every series behind one
API call. Here the heavy steps run in a small thread pool, and the work is bounded: ``workers``
requests at once, ``queue`` more admitted to wait, anything beyond refused at once with 503 and
``Retry-After``; an admitted request that waits longer than ``max_wait_s`` for a thread to start
it is refused the same way (its caller, the gateway, gives up after its own timeout: a request
that waited out most of it would be answered to nobody). The loop still gets the interpreter
between the pool's time slices (``sys.getswitchinterval()``, 5 ms), so consuming and publishing
go on, somewhat slower, while a request is scored. Threads and not processes: a request is
scored on a copy of its series' state taken on the loop (never the live state, which only the
loop touches), and a copy of a few KB per series costs less than sending it to another process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import HTTPException

T = TypeVar("T")
RETRY_AFTER_S = 1


class Slot:
    """One admitted request: it holds one of the pool's threads from its first step to its
    end, so its steps run one after the other and never wait behind another request's."""

    def __init__(self, pool: ScoringPool) -> None:
        self._pool = pool
        self._last: Future[Any] | None = None
        self._holds_thread = False

    async def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` in the request's pool thread and wait for it (the first step waits for
        a thread: refused with 503 if none is free within the pool's ``max_wait_s``)."""
        if not self._holds_thread:
            await self._pool.take_thread()
            self._holds_thread = True
        future = self._pool.executor.submit(work)
        self._last = future
        return await asyncio.wrap_future(future)

    def release(self) -> None:
        """Free the slot once nothing of this request runs any more (a thread cannot be
        stopped: when the caller went away mid-step, the slot is freed when the step ends)."""
        last, holds = self._last, self._holds_thread
        if last is not None and not last.done():
            loop = asyncio.get_running_loop()
            last.add_done_callback(lambda _: loop.call_soon_threadsafe(self._pool.release, holds))
        else:
            self._pool.release(holds)


class ScoringPool:
    def __init__(self, workers: int, queue: int, max_wait_s: float | None = None) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.max_wait_s = max_wait_s
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="anomaly-api")
        self._lock = threading.Lock()
        self._admitted = 0
        self._threads: asyncio.Semaphore | None = None  # made on the loop that uses it

    @property
    def admitted(self) -> int:
        """Requests being scored or waiting for a thread."""
        return self._admitted

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """Admit one request, or refuse it with 503 when ``capacity`` are admitted already."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise _busy(
                    f"{self._admitted} scoring requests are being served or waiting; "
                    "try again shortly"
                )
            self._admitted += 1
        slot = Slot(self)
        try:
            yield slot
        finally:
            slot.release()

    async def take_thread(self) -> None:
        """Wait for a free thread (at most ``max_wait_s``: then 503)."""
        if self._threads is None:
            self._threads = asyncio.Semaphore(self.workers)
        limit = self.max_wait_s
        if limit is None:
            await self._threads.acquire()
            return
        try:
            await asyncio.wait_for(self._threads.acquire(), timeout=limit)
        except TimeoutError:
            raise _busy(
                f"no scoring thread was free within {limit:g} s; try again shortly"
            ) from None

    def release(self, holds_thread: bool = False) -> None:
        """(On the event loop.) One request fewer; its thread free again if it held one."""
        with self._lock:
            self._admitted -= 1
        if holds_thread and self._threads is not None:
            self._threads.release()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _busy(detail: str) -> HTTPException:
    return HTTPException(503, detail, headers={"Retry-After": str(RETRY_AFTER_S)})
