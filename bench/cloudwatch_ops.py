"""The detector on CloudWatch / Prometheus-shaped operational series, through the engine.

A check of the detector on the data it exists to watch (not used to tune anything). Every
series is fed sample by sample through ``DetectionEngine.step`` with its timestamps, as the
detector service does. Prints, per series type: pages (episodes opened) per day of normal
data after two days of learning, escalations, and for injected incidents whether an episode
opened inside the incident (or within an hour after it) and how late. Run from the repository root::

    PYTHONPATH=. .venv/bin/python bench/cloudwatch_ops.py [--days 21] [--seeds 3]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.detector.config import DetectorSettings
from services.detector.detection_engine import DetectionEngine
from services.detector.scoring.config import DetectorConfig
from services.detector.severity import SeverityPolicy
from shared.events import AnomalyEvent

T0 = 1_767_571_200.0  # 2026-01-05 00:00 UTC, a Monday
H = 3600.0
D = 86400.0
LEARN_DAYS = 2.0
INCIDENT_DAY = 16  # 9: Wednesday of week 2; 16: of week 3 (weekly profile usable)


def engine() -> DetectionEngine:
    s = DetectorSettings()
    cfg = DetectorConfig().replace(warmup_samples=s.warmup_samples)
    policy = SeverityPolicy(
        hard_limits=tuple(s.hard_limits),
        escalate_after_s=s.escalate_after_s,
        page_min_deviation=s.page_min_deviation,
    )
    e = DetectionEngine(cfg, policy, resolve_after=s.resolve_after_samples)
    e.max_future_s = None
    return e


@dataclass
class Run:
    opened: list[tuple[float, float, AnomalyEvent]] = field(default_factory=list)
    escalated: list[tuple[float, AnomalyEvent]] = field(default_factory=list)
    bad_bands: int = 0
    scores_bad: int = 0
    us_per_sample: float = 0.0


def feed(ts: np.ndarray, vals: np.ndarray, metric: str, eng: DetectionEngine | None = None) -> Run:
    eng = eng or engine()
    run = Run()
    t_start = time.process_time()
    for t, v in zip(ts.tolist(), vals.tolist(), strict=True):
        step = eng.step("i-0abc", metric, datetime.fromtimestamp(t, UTC), v, "c")
        if step.verdict is not None:
            r = step.verdict.result
            if not math.isfinite(r.score) or not 0.0 <= r.score <= 1.0:
                run.scores_bad += 1
        ev = step.event
        if isinstance(ev, AnomalyEvent):
            if not (math.isfinite(ev.expected_low) and math.isfinite(ev.expected_high)):
                run.bad_bands += 1
            if ev.episode_started_at == ev.observed_at:
                run.opened.append((t, v, ev))
            else:
                run.escalated.append((t, ev))
    run.us_per_sample = (time.process_time() - t_start) / max(len(ts), 1) * 1e6
    return run


# ---------------------------------------------------------------- series shapes
def grid(days: float, period: float = 300.0) -> np.ndarray:
    return T0 + np.arange(int(days * D / period)) * period


def business(ts: np.ndarray, weekend: float = 0.4) -> np.ndarray:
    """0..1 daily shape (peak at 15:00 UTC), lower on Saturday/Sunday."""
    hour = (ts % D) / H
    shape = 0.5 - 0.5 * np.cos(2 * np.pi * (hour - 3.0) / 24.0)
    dow = ((ts // D).astype(int) + 3) % 7  # Monday = 0
    return shape * np.where(dow >= 5, weekend, 1.0)


def nightly_burst(ts: np.ndarray, hour: float = 2.0, minutes: float = 25.0) -> np.ndarray:
    s = (ts % D) - hour * H
    return (s >= 0) & (s < minutes * 60)


def ec2_cpu(
    rng: np.random.Generator, ts: np.ndarray, step: float = 0.1, burst: bool = True
) -> np.ndarray:
    x = 8.0 + 30.0 * business(ts) + rng.normal(0, 1.2, len(ts))
    if burst:
        b = nightly_burst(ts)
        x[b] = 88.0 + rng.normal(0, 3.0, b.sum())
    return np.round(np.clip(x, 0, 100) / step) * step


def idle_cpu(rng: np.random.Generator, ts: np.ndarray, burst: bool = True) -> np.ndarray:
    """Whole-percent CPU of an idle box: long flat stretches at 1-2 %, a nightly cron."""
    x = 1.0 + (rng.random(len(ts)) < 0.08) + 3.0 * business(ts) * (rng.random(len(ts)) < 0.3)
    if burst:
        b = nightly_burst(ts)
        x[b] = 60.0 + rng.normal(0, 6.0, b.sum())
    return np.round(np.clip(x, 0, 100))


def elb_requests(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    """Requests per 5 minutes: zero at night, multiplicative noise, heavy-tailed bursts."""
    lvl = 3000.0 * np.clip(business(ts) - 0.1, 0, None) / 0.9
    x = rng.poisson(lvl * rng.lognormal(0, 0.35, len(ts))).astype(float)
    bursts = (rng.random(len(ts)) < 0.01) & (lvl > 0)
    x[bursts] *= 1.0 + rng.pareto(2.0, bursts.sum())
    return np.round(x)


def network_bytes(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    lvl = 5e8 * np.clip(business(ts) - 0.15, 0, None)
    x = lvl * rng.lognormal(0, 0.6, len(ts))
    return np.round(x)


def disk_queue(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    x = np.zeros(len(ts))
    blips = rng.random(len(ts)) < 0.004
    x[blips] = rng.choice([1.0, 1.0, 1.0, 2.0, 3.0], blips.sum())
    return x


def rds_step(
    rng: np.random.Generator, ts: np.ndarray, at_day: float = 7.0, to: float = 45.0
) -> np.ndarray:
    x = 22.0 + 6.0 * business(ts) + rng.normal(0, 1.5, len(ts))
    x[ts >= T0 + at_day * D + 14 * H] += to - 22.0
    return np.round(np.clip(x, 0, 100), 1)


def memory_util(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    return np.round(42.0 + 3.0 * business(ts) + rng.normal(0, 0.4, len(ts)), 1)


def latency(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    base = 0.080 * (1.0 + 0.5 * business(ts))
    return np.round(base * rng.lognormal(0, 0.15, len(ts)), 4)


# ---------------------------------------------------------------- measurements
def false_pages(
    run: Run, ts: np.ndarray, exclude: tuple[tuple[float, float], ...] = ()
) -> tuple[int, float]:
    start = T0 + LEARN_DAYS * D
    n = 0
    for t, _v, _ev in run.opened:
        if t < start or any(a <= t < b for a, b in exclude):
            continue
        n += 1
    days = (ts[-1] - start) / D - sum((b - a) / D for a, b in exclude)
    return n, days


def caught(run: Run, start: float, end: float) -> float | None:
    for t, _v, _ev in run.opened:
        if start <= t <= end + H:
            return t - start
    return None


Series = Callable[[np.random.Generator, np.ndarray], np.ndarray]
NORMAL: dict[str, tuple[str, Series]] = {
    "ec2 cpu 0.1% + nightly job": ("cpu_utilization", lambda r, t: ec2_cpu(r, t, 0.1)),
    "ec2 cpu 1% + nightly job": ("cpu_utilization", lambda r, t: ec2_cpu(r, t, 1.0)),
    "idle cpu 1% flat + cron": ("cpu_utilization", idle_cpu),
    "elb requests (0 at night)": ("request_count", elb_requests),
    "network bytes (0 at night)": ("network_out", network_bytes),
    "disk queue depth (0 + blips)": ("disk_queue_depth", disk_queue),
    "rds cpu step after deploy": ("cpu_utilization", rds_step),
    "memory %": ("memory_utilization", memory_util),
    "latency p50": ("latency_seconds", latency),
}


Incident = tuple[str, str, np.ndarray, np.ndarray, float, float]


def incidents(rng: np.random.Generator, days: float, period: float = 300.0) -> list[Incident]:
    """(name, metric, ts, values, start, end) with one injected incident each."""
    out: list[Incident] = []
    ts = grid(days, period)
    day10 = T0 + INCIDENT_DAY * D  # a Wednesday
    x = ec2_cpu(rng, ts)
    a, b = day10 + 14 * H, day10 + 16 * H
    m = (ts >= a) & (ts < b)
    x[m] = 100.0
    out.append(("cpu stuck at 100% 2h (14:00)", "cpu_utilization", ts, x, a, b))
    x = memory_util(rng, ts)
    a = day10 + 6 * H
    m = ts >= a
    x[m] = np.minimum(x[m] + (ts[m] - a) / H * 0.5, 99.0)  # +0.5 %/h, ~4 days to 97 %
    b = a + (97 - 45) / 0.5 * H
    out.append(("memory leak +0.5%/h", "memory_utilization", ts, np.round(x, 1), a, b))
    x = elb_requests(rng, ts)
    a, b = day10 + 14 * H, day10 + 15 * H
    x[(ts >= a) & (ts < b)] = 0.0
    out.append(("elb requests drop to 0 1h (14:00)", "request_count", ts, x, a, b))
    x = latency(rng, ts)
    a, b = day10 + 13 * H, day10 + 15 * H
    m = (ts >= a) & (ts < b)
    x[m] *= 2.0
    out.append(("latency doubles 2h (13:00)", "latency_seconds", ts, x, a, b))
    x = ec2_cpu(rng, ts)
    a, b = day10 + 2 * H, day10 + 2 * H + 25 * 60
    x[(ts >= a) & (ts < b)] = np.round(x[(ts >= a) & (ts < b)] * 0 + 9.0, 1)
    out.append(("nightly job did not run", "cpu_utilization", ts, x, a, b))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=21.0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--incident-day", type=int, default=16)
    ap.add_argument("--period", type=float, default=300.0, help="seconds between samples")
    args = ap.parse_args()
    global INCIDENT_DAY
    INCIDENT_DAY = args.incident_day
    ts = grid(args.days, args.period)
    print(
        f"{args.period:g}-second series, {args.days:g} days, {args.seeds} seeds;"
        f" pages counted after day {LEARN_DAYS:g}"
    )
    for name, (metric, make) in NORMAL.items():
        pages = 0
        days = 0.0
        esc = bad = 0
        hours: dict[int, int] = {}
        us = 0.0
        for seed in range(args.seeds):
            vals = make(np.random.default_rng(seed), ts)
            run = feed(ts, vals, metric)
            n, d = false_pages(run, ts)
            pages += n
            days += d
            esc += len(run.escalated)
            bad += run.bad_bands + run.scores_bad
            us += run.us_per_sample / args.seeds
            for t, _v, _e in run.opened:
                if t >= T0 + LEARN_DAYS * D:
                    h = int((t % D) // H)
                    hours[h] = hours.get(h, 0) + 1
        print(
            f"{name:32s} {pages / days:5.2f} pages/day ({pages} in {days:.0f} series-days),"
            f" {esc} escalations, bad={bad}, {us:.0f} us/sample,"
            f" by hour {dict(sorted(hours.items()))}"
        )
    print()
    for seed in range(args.seeds):
        for name, metric, its, x, a, b in incidents(
            np.random.default_rng(100 + seed), args.days, args.period
        ):
            run = feed(its, x, metric)
            delay = caught(run, a, b)
            fp, d = false_pages(run, its, ((a, b + H),))
            txt = "MISSED" if delay is None else f"caught after {delay / 60:.0f} min"
            print(f"seed {seed} {name:36s} {txt:22s} other pages/day {fp / d:.2f}")


if __name__ == "__main__":
    main()
