"""``scops backtest --prometheus`` / ``--cloudwatch``: replay a metrics store's history.

The history is fetched whole first (nothing is written when the fetch fails), then every series
is replayed through its own detection engine exactly like a CSV (``scops.backtest``), into one
CSV per series in the output directory, named after its resource and metric, with
``index.json`` saying which file holds which series (and its labels).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from scops.backtest import (
    BacktestError,
    EventSink,
    Row,
    Summary,
    load_settings,
    parse_time,
    replay_rows,
)
from shared.history_series import HistorySeries

INDEX = "index.json"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)\Z")
_RELATIVE = re.compile(r"^now(?:-(\d+(?:\.\d+)?[smhdw]))?\Z")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def parse_duration(text: str, what: str) -> float:
    """Seconds from ``90``, ``15s``, ``5m``, ``1h``, ``2d`` or ``1w``."""
    match = _DURATION.match(text.strip())
    if match is None or float(match[1]) <= 0:
        raise BacktestError(f"{what} {text!r}: not a positive duration such as 60, 15s, 5m or 1h")
    return float(match[1]) * _UNITS[match[2] or "s"]


def parse_when(text: str, what: str, now: float | None = None) -> float:
    """Epoch seconds from ISO 8601, epoch seconds, ``now`` or ``now-6h``."""
    clock = time.time() if now is None else now
    relative = _RELATIVE.match(text.strip())
    if relative is not None:
        return clock - (parse_duration(relative[1], what) if relative[1] else 0.0)
    stamp = parse_time(text)
    if stamp is None:
        raise BacktestError(
            f"{what} {text!r}: neither ISO 8601, epoch seconds, 'now' nor 'now-<duration>'"
        )
    return stamp.timestamp()


def file_names(series: list[HistorySeries]) -> list[str]:
    """One distinct, filesystem-safe CSV name per series: ``<resource>__<metric>.csv``."""
    names: list[str] = []
    taken: set[str] = set()
    for one in series:
        stem = f"{_UNSAFE.sub('_', one.resource_id)}__{_UNSAFE.sub('_', one.metric)}"[:150]
        name, n = f"{stem}.csv", 1
        while name.lower() in taken:
            n += 1
            name = f"{stem}-{n}.csv"
        taken.add(name.lower())
        names.append(name)
    return names


def _rows(series: HistorySeries) -> Iterator[Row]:
    for ts, value in series.points:
        stamp = datetime.fromtimestamp(ts, UTC)
        yield Row(stamp.isoformat(), repr(value), stamp, value)


def replay_history(
    series: list[HistorySeries],
    output: Path,
    config: Path | None,
    on_event: EventSink | None = None,
) -> Summary:
    """Replay every series into ``output`` (a directory, created if needed)."""
    if output.exists() and not output.is_dir():
        raise BacktestError(f"{output}: is a file; history is written into a directory")
    settings = load_settings(config)
    summary = Summary()
    index = []
    for one, name in zip(series, file_names(series), strict=True):
        replay_rows(
            _rows(one),
            output / name,
            settings,
            summary,
            one.resource_id,
            one.metric,
            on_event,
            one.labels,
        )
        index.append(
            {
                "file": name,
                "resource_id": one.resource_id,
                "metric": one.metric,
                "labels": one.labels,
                "points": len(one.points),
            }
        )
    try:
        (output / INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BacktestError(f"{output / INDEX}: cannot write: {exc.strerror}") from exc
    return summary
