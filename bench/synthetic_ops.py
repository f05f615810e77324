"""False alarms of the streaming scorer on synthetic series shaped like operational metrics.

Not collected by pytest and not used to choose any constant: a sanity check of what the
scorer does on incident-free data that looks like cloud monitoring (5-minute periods, two
weeks = 4032 samples, three seeds per kind). Every alarm after the first 15 % of a series
(NAB's probation) is counted as false. ``--interval`` samples the same two weeks faster
(15: every 15 s, a Prometheus scrape): each sample is drawn as at 5 minutes, the daily
cycles keep their period in time, and the false alarms are also given per series per day.
Run from the repository root::

    .venv/bin/python bench/synthetic_ops.py [--interval SECONDS] [--set NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.detector.scoring.config import DetectorConfig
from services.detector.scoring.detector import SeriesDetector

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC, a Thursday
DAYS = 14


def flat_cpu(rng: np.random.Generator, n: int, day: int) -> np.ndarray:
    """An idle instance: CPU ~1 % reported in steps of 0.066 %."""
    x = 1.0 + 0.08 * rng.standard_normal(n)
    return np.round(x / 0.066) * 0.066


def daily_cpu(rng: np.random.Generator, n: int, day: int) -> np.ndarray:
    """A web tier's CPU with a daily cycle, reported in steps of 0.066 %."""
    t = np.arange(n)
    x = 20.0 + 8.0 * np.sin(2 * math.pi * t / day) + 1.5 * rng.standard_normal(n)
    return np.round(np.clip(x, 0.0, 100.0) / 0.066) * 0.066


def request_counter(rng: np.random.Generator, n: int, day: int) -> np.ndarray:
    """Requests per period: Poisson around a daily cycle plus Pareto-sized bursts."""
    t = np.arange(n)
    rate = 500.0 + 200.0 * np.sin(2 * math.pi * t / day)
    x = rng.poisson(rate).astype(float)
    bursts = rng.random(n) < 0.02
    x[bursts] += 150.0 * rng.pareto(1.5, bursts.sum())
    return x


def disk_writes(rng: np.random.Generator, n: int, day: int) -> np.ndarray:
    """Bytes written per period: mostly nothing, otherwise lognormal flushes."""
    x = rng.lognormal(12.0, 1.2, n)
    x[rng.random(n) < 0.7] = 0.0
    return np.round(x)


def network_bytes(rng: np.random.Generator, n: int, day: int) -> np.ndarray:
    """Bytes out per period: lognormal around a daily cycle."""
    t = np.arange(n)
    level = 1e7 * (1.0 + 0.4 * np.sin(2 * math.pi * t / day))
    return np.round(level * rng.lognormal(0.0, 0.5, n))


KINDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "flat CPU": flat_cpu,
    "daily CPU": daily_cpu,
    "request counter": request_counter,
    "disk writes": disk_writes,
    "network bytes": network_bytes,
}


def false_alarms(
    config: DetectorConfig, values: np.ndarray, interval: float
) -> tuple[int, dict[str, int]]:
    det = SeriesDetector(config)
    count = 0
    by: dict[str, int] = {}
    probation = int(0.15 * len(values))
    for i, v in enumerate(values):
        r = det.update(T0 + i * interval, float(v))
        if r.is_anomaly and i >= probation:
            count += 1
            for name in r.detectors:
                by[name] = by.get(name, 0) + 1
    return count, by


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--interval", type=float, default=300.0, help="seconds between samples")
    args = ap.parse_args()
    day = round(86400.0 / args.interval)  # samples per day
    n = DAYS * day
    days_counted = args.seeds * DAYS * 0.85  # series-days after the probation
    config = DetectorConfig()
    for item in args.set:
        name, text = item.split("=", 1)
        kind = type(getattr(config, name))
        config = config.replace(**{name: kind(float(text)) if kind in (int, float) else text})
    total = 0
    for name, make in KINDS.items():
        alarms = 0
        by: dict[str, int] = {}
        for seed in range(args.seeds):
            c, b = false_alarms(config, make(np.random.default_rng(seed), n, day), args.interval)
            alarms += c
            for k, v in b.items():
                by[k] = by.get(k, 0) + v
        total += alarms
        print(
            f"{name:16s} {alarms:3d} false alarms in {args.seeds} series"
            f" ({alarms / days_counted:.2f} per series per day)  {by}"
        )
    print(
        f"{'total':16s} {total:3d} ({total / (len(KINDS) * days_counted):.2f} per series per day)"
    )


if __name__ == "__main__":
    main()
