"""Throughput and memory benchmark of the streaming scorer (not collected by pytest).

Run from the repository root::

    python bench/scoring.py [--series 10000] [--samples 100]

Reports samples/s for one long series and for many interleaved series (the realistic
service case: every sample touches a different detector, so caches are cold), and the
memory one detector holds after warm-up (tracemalloc, Python objects included) next to
the size of its JSON checkpoint, and what one series costs inside the detection engine
(scorer, episode, feedback, its key and the engine's bookkeeping). Rates use process CPU
time, i.e. samples per second of one core actually spent on this process (wall time is
meaningless on a shared machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.detector.detection_engine import DetectionEngine
from services.detector.scoring.detector import SeriesDetector

T0 = 1_700_000_000.0


def _values(n: int, phase: float = 0.0) -> list[float]:
    """A noisy daily-ish signal; cheap to generate, exercises every sub-detector."""
    out = []
    x = 0.0
    for i in range(n):
        x = 0.9 * x + math.sin(i * 12.9898 + phase) * 0.5  # deterministic pseudo-noise
        out.append(100.0 + 20.0 * math.sin(2 * math.pi * i / 288 + phase) + 5.0 * x)
    return out


def bench_single(n: int, repeats: int = 3) -> float:
    """Best of ``repeats`` runs (the machine may be shared; the best run is the
    closest to the uncontended cost)."""
    values = _values(n)
    best = 0.0
    for _ in range(repeats):
        update = SeriesDetector().update
        start = time.process_time()
        for i, v in enumerate(values):
            update(T0 + 300.0 * i, v)
        best = max(best, n / (time.process_time() - start))
    return best


def bench_interleaved(series: int, samples: int, warm: int) -> float:
    """Round-robin over ``series`` detectors; the first ``warm`` rounds are not timed
    (they get every detector past warm-up, where all sub-detectors run)."""
    dets = [SeriesDetector() for _ in range(series)]
    values = [_values(warm + samples, phase=k * 0.001) for k in range(series)]
    start = 0.0
    for i in range(warm + samples):
        if i == warm:
            start = time.process_time()
        t = T0 + 300.0 * i
        for det, vals in zip(dets, values, strict=True):
            det.update(t, vals[i])
    return series * samples / (time.process_time() - start)


def bytes_per_series(series: int = 1000, warm: int = 400) -> tuple[float, float]:
    values = _values(warm)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    dets = []
    for _ in range(series):
        det = SeriesDetector()
        for i, v in enumerate(values):
            det.update(T0 + 300.0 * i, v)
        dets.append(det)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    state = len(json.dumps(dets[0].to_state()))
    return used / series, float(state)


def engine_bytes_per_series(series: int = 2000, warm: int = 300) -> float:
    """Memory of one series in the detection engine, as the service holds it."""
    from datetime import UTC, datetime

    values = _values(warm)
    stamps = [datetime.fromtimestamp(T0 + 60.0 * i, UTC) for i in range(warm)]
    gc.collect()
    tracemalloc.start()
    engine = DetectionEngine(max_future_s=None)
    base = tracemalloc.get_traced_memory()[0]
    for s in range(series):
        name = f"host-{s}"
        for i in range(warm):
            engine.step(name, "cpu", stamps[i], values[i], "bench")
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / series


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--single", type=int, default=100_000, help="samples for the single series")
    ap.add_argument("--series", type=int, default=10_000, help="interleaved series")
    ap.add_argument("--samples", type=int, default=50, help="timed samples per series")
    ap.add_argument("--warm", type=int, default=250, help="untimed samples per series first")
    args = ap.parse_args()
    print(f"single series:        {bench_single(args.single):10,.0f} samples/s")
    rate = bench_interleaved(args.series, args.samples, args.warm)
    print(f"{args.series} interleaved: {rate:10,.0f} samples/s")
    mem, state = bytes_per_series()
    print(f"memory per series:    {mem:10,.0f} bytes (tracemalloc)")
    print(f"checkpoint size:      {state:10,.0f} bytes of JSON")
    print(f"engine, per series:   {engine_bytes_per_series():10,.0f} bytes (tracemalloc)")


if __name__ == "__main__":
    main()
