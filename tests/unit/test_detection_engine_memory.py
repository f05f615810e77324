"""What the engine keeps per series around its scorer, fed as the detector is fed: column
batches decoded from the stream (fresh strings for every sample) with checkpoints between
them."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime

from services.detector.detection_engine import DetectionEngine
from services.detector.scoring.detector import SeriesDetector
from shared.metric_batches import decode_columns, encode_columns

T0_US = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
SERIES = 200
STEPS = 12
METRICS = ("cpu_utilization", "memory_utilization")
# Bytes per series beyond the scorer's own: the state object, its clock, its resource's name,
# its entry in the series table and in the changed-series queue (about 170). Was about 610: a
# key tuple and an empty feedback object per series, a copy of the metric's name per series,
# and the changed-series set holding a new key tuple, with new strings, after each checkpoint.
BUDGET = 240


def _value(resource: int, step: int) -> float:
    return 40.0 + (resource * 7 + step * 3) % 11


def _payloads() -> list[bytes]:
    payloads = []
    resources = SERIES // len(METRICS)
    for step in range(STEPS):
        names = [f"host-{r:05d}" for r in range(resources) for _ in METRICS]
        metrics = [m for _ in range(resources) for m in METRICS]
        values = [_value(r, step) for r in range(resources) for _ in METRICS]
        fields = encode_columns(names, metrics, values, [T0_US + step * 60_000_000] * SERIES, None)
        data = fields["data"]
        payloads.append(data.encode() if isinstance(data, str) else data)
    return payloads


def _traced(run: object) -> int:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    assert callable(run)
    kept = run()
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    del kept
    return used


def test_the_engine_keeps_little_per_series_beyond_its_scorer() -> None:
    payloads = _payloads()

    def engine_fed() -> DetectionEngine:
        engine = DetectionEngine(max_future_s=None)
        for step, payload in enumerate(payloads):
            engine.process_columns(decode_columns(payload))
            if step in (4, 8):
                engine.take_dirty()  # a checkpoint: every later sample marks its series again
        return engine

    def scorers_fed() -> list[SeriesDetector]:
        scorers = [SeriesDetector() for _ in range(SERIES)]
        for step in range(STEPS):
            ts = (T0_US + step * 60_000_000) / 1e6
            for i, scorer in enumerate(scorers):
                scorer.update(ts, _value(i // len(METRICS), step))
        return scorers

    tracemalloc.start()
    try:
        engine_fed()  # warms caches (interned names, hard-limit lookups) outside the count
        scorers_fed()
        in_engine = _traced(engine_fed)
        alone = _traced(scorers_fed)
    finally:
        tracemalloc.stop()
    extra = (in_engine - alone - 8 * SERIES) / SERIES  # less the list holding the scorers
    assert extra <= BUDGET, f"{extra:.0f} bytes per series beyond the scorer"


def test_series_of_one_resource_share_its_name_and_every_series_its_metric_name() -> None:
    engine = DetectionEngine(max_future_s=None)
    for payload in _payloads()[:3]:
        engine.process_columns(decode_columns(payload))
    cpu = engine.series[("host-00007", "cpu_utilization")]
    memory = engine.series[("host-00007", "memory_utilization")]
    other = engine.series[("host-00008", "cpu_utilization")]
    assert cpu.resource_id is memory.resource_id
    assert cpu.metric is other.metric
    assert len(engine.series) == SERIES
