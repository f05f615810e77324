"""Synchronous scoring requests (``POST /anomaly``, ``/anomaly/batch``) run here, off the event
loop that consumes the metric streams.

A batch request can hold 100,000 points, seconds of CPU: scored on the event loop it would stall
detection for every series behind one API call. Here it runs in a small thread pool (the work is
bounded: ``workers`` requests at once, ``queue`` more waiting, anything beyond refused at once
with 503 and ``Retry-After``). The loop still gets the interpreter between the pool's time slices
(``sys.getswitchinterval()``, 5 ms), so consuming and publishing go on, somewhat slower, while a
request is scored. Threads and not processes: a request is scored on a copy of its series' state
taken on the loop (never the live state, which only the loop touches), and a copy of a few KB
per series costs less than sending it to another process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import HTTPException

T = TypeVar("T")
RETRY_AFTER_S = 1


class ScoringPool:
    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="anomaly-api")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Requests being scored or waiting for a thread."""
        return self._admitted

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` in the pool; 503 when ``capacity`` requests are already admitted.

        A request stays admitted until its work has finished, even if its caller has gone away
        (a running thread cannot be stopped), so the bound holds."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise HTTPException(
                    503,
                    f"{self._admitted} scoring requests are being served or waiting; "
                    "try again shortly",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            self._admitted += 1
        future = self._pool.submit(work)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
