"""``scops backtest --nab-dir``: replay a Numenta Anomaly Benchmark checkout in NAB's own layout.

NAB (github.com/numenta/NAB) keeps its series under ``data/<category>/<file>.csv`` and scores a
detector from ``results/<detector>/<category>/<detector>_<file>.csv`` (it reads the
``anomaly_score`` column; the windows come from its ``labels/``). Writing there lets NAB's own
``run.py -d scops --optimize --score --normalize`` score the product's detector exactly as it
scores every published entry, with nothing of ours in the scoring.
"""

from __future__ import annotations

from pathlib import Path

from scops.backtest import BacktestError, checked

DETECTOR_NAME = "scops"  # NAB splits result names on "_": the name must not contain one


def nab_plan(nab_dir: Path, output: Path | None) -> list[tuple[Path, Path]]:
    """(series, results file) for every series of the NAB checkout at ``nab_dir``; the results
    go to ``output`` or, by default, where NAB's ``run.py`` looks: ``results/scops``."""
    data = nab_dir / "data"
    if not data.is_dir():
        raise BacktestError(f"{nab_dir}: not a NAB checkout (it has no data/ directory)")
    target = output if output is not None else nab_dir / "results" / DETECTOR_NAME
    pairs = [
        (series, target / series.parent.relative_to(data) / f"{DETECTOR_NAME}_{series.name}")
        for series in sorted(data.rglob("*.csv"))
    ]
    if not pairs:
        raise BacktestError(f"{data}: no CSV files")
    return checked(pairs)
