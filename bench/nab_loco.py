"""Leave-one-category-out (LOCO) evaluation of the streaming scorer on a NAB checkout.

Measures generalisation, not fit: for each category of the corpus the free parameters (the
alarm threshold, which also starts the refractory period, and the alarm-bar step, the
alert-fatigue knob) are chosen on the *other* categories, together with the NAB threshold that
is optimal there, and the held-out category is then scored at exactly those settings with NAB's
scorer. Printed: the held-out score of every category, their mean, the pooled held-out score
(every category scored at its own fold's settings, normalised over the whole corpus, directly
comparable to the in-sample figure), and the in-sample score (best grid point and threshold on
everything, what NAB itself reports).

Each grid point runs the detector once over every file; every fold reuses those per-file
scores, so the cost is (grid points x corpus) detector runs, spread over ``--jobs`` processes.

Run from the repository root (the NAB scorer and data are read at run time, never copied)::

    .venv/bin/python bench/nab_loco.py --nab-dir ../shared/nab --jobs 2

Exits 0 with a note when the NAB directory is missing.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib
import itertools
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.detector.scoring.config import DetectorConfig  # noqa: E402
from services.detector.scoring.nab_entry import detect  # noqa: E402

#: The free parameters and their grid (kept to a handful on purpose: every extra knob tuned
#: on the benchmark is one more way to fit it instead of generalising).
GRID: dict[str, tuple[float, ...]] = {
    "alarm_threshold": (0.3, 0.35, 0.4, 0.45, 0.5),
    "alarm_bar_step": (0.75, 1.5, 3.0),
}
PROFILE_SHORT = ("standard", "low_FP", "low_FN")


def load_scorer(nab_dir: Path) -> ModuleType | None:
    """NAB's scorer module from ``nab_dir`` (None when the checkout is not there)."""
    if not (nab_dir / "nab_score.py").is_file() or not (nab_dir / "labels").is_dir():
        return None
    sys.path.insert(0, str(nab_dir))
    return importlib.import_module("nab_score")


def _run_one(
    overrides: dict[str, Any], ts: np.ndarray, values: np.ndarray, product: bool
) -> np.ndarray:
    if not product:
        return detect(ts, values, DetectorConfig().replace(**overrides))
    # The product path, as ``scops backtest`` runs it: the engine with its paging gate.
    from services.detector.config import DetectorSettings
    from services.detector.detection_engine import DetectionEngine
    from services.detector.severity import SeverityPolicy

    settings = DetectorSettings()
    config = DetectorConfig().replace(warmup_samples=settings.warmup_samples, **overrides)
    policy = SeverityPolicy(
        hard_limits=tuple(settings.hard_limits),
        escalate_after_s=settings.escalate_after_s,
        page_min_deviation=settings.page_min_deviation,
    )
    engine = DetectionEngine(config, policy, resolve_after=settings.resolve_after_samples)
    engine.max_future_s = None
    out = np.zeros(len(values))
    for k, (t, v) in enumerate(zip(ts.astype(datetime).tolist(), values.tolist(), strict=True)):
        step = engine.step("nab", "series", t.replace(tzinfo=UTC), v, "nab")
        if step.verdict is not None:
            out[k] = step.verdict.result.score
    return out


def quantised(values: np.ndarray, levels: int) -> np.ndarray:
    """``values`` rounded to ``levels`` steps across their 1st to 99th percentile."""
    low, high = np.percentile(values, [1, 99])
    step = float(high - low) / levels or 1.0
    return np.round(values / step) * step


def grid_points(small: bool) -> list[dict[str, Any]]:
    defaults = DetectorConfig()
    grid = (
        {
            "alarm_threshold": (defaults.alarm_threshold,),
            "alarm_bar_step": (defaults.alarm_bar_step,),
        }
        if small
        else GRID
    )
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def score_all(
    files: list[Any], points: list[dict[str, Any]], jobs: int, product: bool = False
) -> list[list[np.ndarray]]:
    """``scores[p][f]``: the detector's scores of file ``f`` under grid point ``p``."""
    stamps = [
        np.array([datetime.fromisoformat(t.strip()) for t in f.timestamps], dtype="datetime64[s]")
        for f in files
    ]
    out: list[list[np.ndarray]] = [[np.empty(0)] * len(files) for _ in points]
    order = sorted(range(len(files)), key=lambda i: -files[i].n)
    with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
        futs = {
            pool.submit(_run_one, point, stamps[i], files[i].values, product): (p, i)
            for p, point in enumerate(points)
            for i in order
        }
        for fut in cf.as_completed(futs):
            p, i = futs[fut]
            out[p][i] = fut.result()
    return out


def best_setting(
    nab: ModuleType, files: list[Any], scores: list[list[np.ndarray]], profile: str
) -> tuple[int, float, float]:
    """(grid point, NAB threshold, raw score) maximising the raw score on ``files``."""
    prof = nab.PROFILES[profile]
    best = (-1, 0.0, -np.inf)
    for p, per_file in enumerate(scores):
        sweep = nab.build_sweep(files, per_file, prof)
        thr, raw = nab.optimise_sweep(sweep)
        if raw > best[2]:
            best = (p, thr, raw)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nab-dir", type=Path, default=ROOT.parent / "shared" / "nab")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--small", action="store_true", help="defaults only (threshold still tuned)")
    ap.add_argument(
        "--product",
        action="store_true",
        help="score through the detection engine (paging gate included), as scops backtest does",
    )
    ap.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="one more constant re-tuned inside every fold (tried at each listed value)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a configuration change applied at every grid point (to compare variants)",
    )
    ap.add_argument(
        "--quantise",
        type=int,
        default=0,
        metavar="LEVELS",
        help="round every file's values to steps of (99th - 1st percentile) / LEVELS first, "
        "as coarse CloudWatch and Prometheus metrics are: a robustness check, not a score",
    )
    args = ap.parse_args(argv)

    nab = load_scorer(args.nab_dir)
    if nab is None:
        print(f"skipped: no NAB checkout (nab_score.py, labels/) at {args.nab_dir}")
        return 0
    files = nab.load_corpus(str(args.nab_dir))
    if args.quantise > 0:
        for f in files:
            f.values = quantised(f.values, args.quantise)
    extra = {}
    for item in args.set:
        name, _, text = item.partition("=")
        kind = type(getattr(DetectorConfig(), name))
        extra[name] = kind(float(text)) if kind in (int, float) else kind(text)
    for item in args.grid:
        name, _, text = item.partition("=")
        kind = type(getattr(DetectorConfig(), name))
        GRID[name] = tuple(kind(float(x)) for x in text.split(","))
    points = [{**p, **extra} for p in grid_points(args.small)]
    t0 = time.perf_counter()
    scores = score_all(files, points, max(1, args.jobs), args.product)
    t_run = time.perf_counter() - t0
    cats = sorted({f.category for f in files})
    profiles = list(nab.PROFILES)

    print(f"{len(files)} files, {len(points)} grid points {list(GRID) if not args.small else []}")
    print(f"detector runs: {t_run:.0f}s wall on {args.jobs} process(es)\n")
    header = f"{'held-out category':24s} " + " ".join(f"{s:>9s}" for s in PROFILE_SHORT)
    print(header + "   chosen (standard): " + ", ".join(GRID))
    held: dict[str, list[float]] = {p: [] for p in profiles}
    pooled_raw = dict.fromkeys(profiles, 0.0)
    for cat in cats:
        train = [i for i, f in enumerate(files) if f.category != cat]
        test = [i for i, f in enumerate(files) if f.category == cat]
        cells, chosen = [], ""
        for prof in profiles:
            tr_files = [files[i] for i in train]
            p, thr, _ = best_setting(nab, tr_files, [[s[i] for i in train] for s in scores], prof)
            te_files = [files[i] for i in test]
            res = nab.score_corpus(
                te_files, [scores[p][i] for i in test], [prof], thresholds={prof: thr}
            )[prof]
            pooled_raw[prof] += res["raw"]
            if res["score"] is None:  # no windows: only false positives can cost
                fp = sum(d["fp_rows"] for d in res["files"].values())
                cells.append(f"{f'{fp} FP':>9s}")
            else:
                held[prof].append(res["score"])
                cells.append(f"{res['score']:9.1f}")
            if prof == "standard":
                chosen = ", ".join(f"{v:g}" for v in points[p].values()) + f", t={thr:.3f}"
        print(f"{cat:24s} " + " ".join(cells) + f"   {chosen}")

    n_win = sum(len(f.windows) for f in files)
    print(
        f"\n{'mean held-out':24s} "
        + " ".join(f"{float(np.mean(held[p])):9.1f}" for p in profiles)
        + "   (categories with windows)"
    )
    pooled = [nab.normalise(pooled_raw[p], n_win, nab.PROFILES[p]) for p in profiles]
    print(f"{'pooled held-out':24s} " + " ".join(f"{v:9.1f}" for v in pooled))
    ins = []
    for prof in profiles:
        p, thr, raw = best_setting(nab, files, scores, prof)
        ins.append(nab.normalise(raw, n_win, nab.PROFILES[prof]))
    print(f"{'in-sample (tuned)':24s} " + " ".join(f"{v:9.1f}" for v in ins))
    d = next(
        (
            k
            for k, pt in enumerate(points)
            if all(getattr(DetectorConfig(), n) == v for n, v in pt.items() if n not in extra)
        ),
        None,
    )
    if d is None:
        print(f"{'in-sample (defaults)':24s} (the defaults are not a grid point)")
    else:
        default = nab.score_corpus(files, scores[d], details=False)
        print(
            f"{'in-sample (defaults)':24s} "
            + " ".join(f"{default[p]['score']:9.1f}" for p in profiles)
            + f"   t={default['standard']['threshold']:.3f}"
        )
    print(
        "LOCO held-out mean standard={:.1f} low_FP={:.1f} low_FN={:.1f}".format(
            *(float(np.mean(held[p])) for p in profiles)
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
