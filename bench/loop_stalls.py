"""Event-loop stalls and garbage-collector pauses of a service process, for the benchmarks.

``bench/pipeline.py --stalls`` starts the gateway and the detectors through :data:`WRAPPER`,
which installs this probe before the service runs:

- a task on the service's loop sleeps ``TICK_S`` again and again; how late it wakes is how long
  the loop was held by something else (a scored batch, a parsed request, a collection);
- a watchdog thread notices when the loop's thread worked ``SAMPLE_AFTER_S`` of CPU since the
  last tick and records that thread's stack at that moment, so the longest stalls say where the
  loop was held (by work, not by waiting for a core on a busy machine);
- ``gc.callbacks`` time every collection, by generation.

``SIGUSR1`` forgets what was recorded so far (the benchmark sends it when the timed phase
begins); at exit the record is written as JSON to the path given, read by :func:`summary`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

TICK_S = 0.001
SAMPLE_AFTER_S = 0.008  # a stall this long gets the main thread's stack recorded
KEPT_STACKS = 40
OURS = ("services/", "shared/")

WRAPPER = """
import runpy, signal, sys
sys.path.insert(0, {bench!r})
import loop_stalls
signal.raise_signal = lambda _signum: None
sys.argv = ["scops", *sys.argv[1:]]
loop_stalls.install({out!r})
try:
    runpy.run_module("scops", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    loop_stalls.dump()
"""


class Record:
    def __init__(self, out: str) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.reset()
        self.gc_started = (0.0, 0.0)
        self.last_tick = time.perf_counter()
        self.tick_cpu = time.thread_time()
        self.sampled_for = 0.0

    def reset(self) -> None:
        self.since = time.perf_counter()
        self.ticks = 0
        # (seconds late, CPU seconds the loop's thread spent meanwhile), each tick later than
        # 1 ms: on a busy machine the first is mostly waiting for a core, the second is work
        self.lags: list[tuple[float, float]] = []
        self.gc: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}  # (wall, CPU)
        self.stacks: list[tuple[float, str]] = []  # (overdue by, where the main thread was)


RECORD: Record | None = None


def install(out: str) -> None:
    """Set the probe up in this process (before the service starts its loop)."""
    global RECORD
    record = RECORD = Record(out)
    gc.callbacks.append(_on_gc)
    signal.signal(signal.SIGUSR1, lambda _s, _f: record.reset())
    import uvicorn

    serve = uvicorn.Server.serve

    async def serve_probed(self: Any, sockets: Any = None) -> None:
        task = asyncio.create_task(_ticks(record))
        try:
            await serve(self, sockets)
        finally:
            task.cancel()

    uvicorn.Server.serve = serve_probed  # type: ignore[method-assign]
    main = threading.main_thread().ident
    threading.Thread(target=_watch, args=(record, main), daemon=True).start()


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    record = RECORD
    if record is None:
        return
    if phase == "start":
        record.gc_started = (time.perf_counter(), time.thread_time())
    else:
        wall, cpu = record.gc_started
        record.gc[info["generation"]].append((time.perf_counter() - wall, time.thread_time() - cpu))


async def _ticks(record: Record) -> None:
    while True:
        before, cpu = time.perf_counter(), time.thread_time()
        record.last_tick, record.tick_cpu = before, cpu
        await asyncio.sleep(TICK_S)
        late = time.perf_counter() - before - TICK_S
        record.ticks += 1
        if late > 0.001:
            record.lags.append((late, time.thread_time() - cpu))


def _watch(record: Record, main: int | None) -> None:
    clock = time.pthread_getcpuclockid(main or 0)
    while True:
        time.sleep(0.002)
        overdue = time.clock_gettime(clock) - record.tick_cpu  # the loop thread's CPU
        if overdue < SAMPLE_AFTER_S or record.sampled_for == record.last_tick:
            continue
        record.sampled_for = record.last_tick
        frame = sys._current_frames().get(main or 0)
        if frame is None or len(record.stacks) >= 10 * KEPT_STACKS:
            continue
        frames = traceback.extract_stack(frame)
        ours = [f for f in frames[:-1] if any(part in f.filename for part in OURS)][-5:]
        lines = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in [*ours, frames[-1]]]
        record.stacks.append((overdue, " < ".join(reversed(lines))))


def dump() -> None:
    record = RECORD
    if record is None:
        return
    stacks = sorted(record.stacks, reverse=True)[:KEPT_STACKS]
    Path(record.out).write_text(
        json.dumps(
            {
                "seconds": time.perf_counter() - record.since,
                "ticks": record.ticks,
                "lags": record.lags,
                "gc": {str(k): v for k, v in record.gc.items()},
                "stacks": stacks,
            }
        )
    )


def summary(path: Path, name: str, top: int = 3) -> list[str]:
    """Lines describing one process's record: how late the loop was (wall) and how much of
    that the process itself worked (CPU, what a quiet machine would see)."""
    if not path.exists():
        return [f"  {name}: no record"]
    data = json.loads(path.read_text())
    lines = [f"  {name}: {data['seconds']:.0f} s, {len(data['lags'])} ticks late > 1 ms"]
    for label, column in (("wall", 0), ("CPU", 1)):
        ms = sorted(lag[column] * 1000 for lag in data["lags"])
        lines.append(
            f"    loop held ({label}): > 5 ms {sum(v > 5 for v in ms)}x, "
            f"> 10 ms {sum(v > 10 for v in ms)}x, > 20 ms {sum(v > 20 for v in ms)}x; "
            f"top {', '.join(f'{v:.1f}' for v in ms[-5:][::-1])} ms"
        )
    parts = []
    for generation, pauses in data["gc"].items():
        if pauses:
            wall = max(p[0] for p in pauses) * 1000
            cpu = max(p[1] for p in pauses) * 1000
            total = sum(p[1] for p in pauses) * 1000
            parts.append(
                f"gen{generation} {len(pauses)}x max {wall:.1f} ms wall / {cpu:.1f} ms CPU, "
                f"{total:.0f} ms CPU in all"
            )
    lines.append("    gc: " + ("; ".join(parts) or "none"))
    for overdue, where in data["stacks"][:top]:
        lines.append(f"    held >= {overdue * 1000:.0f} ms CPU at {where}")
    return lines
