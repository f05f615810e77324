"""The detector's scoring pool refuses what it could not start in time: a request that waited
for a thread longer than ``max_wait_s`` gets 503 with Retry-After (and never runs later), instead
of an answer after its caller, the gateway, has given up with 504."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi import HTTPException

from services.detector.scoring_pool import ScoringPool


async def test_a_request_no_thread_started_in_time_is_refused_and_never_runs() -> None:
    pool = ScoringPool(workers=1, queue=2, max_wait_s=0.2)
    release = threading.Event()
    ran: list[str] = []
    try:
        async with pool.slot() as busy:
            first = asyncio.create_task(busy.call(lambda: release.wait(5)))
            await asyncio.sleep(0.05)  # the only thread is taken
            began = time.monotonic()
            with pytest.raises(HTTPException) as refused:
                async with pool.slot() as waiting:
                    await waiting.call(lambda: ran.append("late"))
            waited = time.monotonic() - began
            release.set()
            await first
        assert refused.value.status_code == 503
        assert refused.value.headers == {"Retry-After": "1"}
        assert 0.15 <= waited < 2.0
        await asyncio.sleep(0.1)
        assert ran == []  # cancelled before a thread took it
        assert pool.admitted == 0  # both slots given back
    finally:
        release.set()
        pool.close()


async def test_a_request_started_in_time_runs_all_its_steps() -> None:
    pool = ScoringPool(workers=1, queue=1, max_wait_s=0.5)
    try:
        async with pool.slot() as slot:
            parsed = await slot.call(lambda: [1, 2, 3])
            time.sleep(0.6)  # later steps are not held to the admission limit
            scored = await slot.call(lambda: sum(parsed))
        assert scored == 6
        assert pool.admitted == 0
    finally:
        pool.close()


async def test_a_requests_steps_never_wait_behind_another_requests() -> None:
    """With one thread, a request admitted second waits for the first one's every step: the
    first is not held up between its parsing and its scoring by the second's parsing."""
    pool = ScoringPool(workers=1, queue=2, max_wait_s=5.0)
    order: list[str] = []
    gate = threading.Event()

    async def request(name: str, hold: bool) -> None:
        def parse() -> None:
            if hold:
                gate.wait(5)
            order.append(f"{name} parse")

        async with pool.slot() as slot:
            await slot.call(parse)
            await asyncio.sleep(0.05)  # between steps, as between parsing and scoring
            await slot.call(lambda: order.append(f"{name} score"))

    try:
        first = asyncio.create_task(request("a", hold=True))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(request("b", hold=False))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, second)
        assert order == ["a parse", "a score", "b parse", "b score"]
        assert pool.admitted == 0
    finally:
        gate.set()
        pool.close()
