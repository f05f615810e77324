"""``scops backtest``: replay CSV history through the production streaming detector.

Each input CSV has a header with ``timestamp`` and ``value`` and is one series. Every row goes
through exactly the engine the detector service runs (scoring, severity, episodes), and one output
row is written per input row: ``timestamp,value,anomaly_score,is_anomaly,severity``. Rows that
cannot be scored (a value that is not a finite number, a timestamp that is unreadable, not newer
than the previous one, or a duplicate) get score 0 and severity ``skipped``.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.detector.config import DetectorSettings
from services.detector.engine_setup import build_engine

OUTPUT_HEADER = ["timestamp", "value", "anomaly_score", "is_anomaly", "severity"]


class BacktestError(Exception):
    """An input that cannot be replayed (the message says which file and why)."""


@dataclass
class Summary:
    files: int = 0
    rows: int = 0
    skipped: int = 0
    seconds: float = 0.0
    alarms: Counter[str] = field(default_factory=Counter)

    def text(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0.0
        by_severity = ", ".join(
            f"{s} {self.alarms[s]}" for s in ("critical", "high", "medium", "low") if self.alarms[s]
        )
        return (
            f"{self.files} file(s), {self.rows} rows ({self.skipped} skipped), "
            f"anomalous samples: {sum(self.alarms.values())}"
            + (f" ({by_severity})" if by_severity else "")
            + f"; {rate:,.0f} samples/s"
        )


def load_settings(config: Path | None) -> DetectorSettings:
    """Detector settings from the environment, overridden by a JSON file's keys if given."""
    if config is None:
        return DetectorSettings()
    try:
        overrides: dict[str, Any] = json.loads(config.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BacktestError(f"{config}: cannot read the configuration: {exc}") from exc
    return DetectorSettings(**overrides)


def _parse_time(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _parse_value(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def replay_file(source: Path, target: Path, settings: DetectorSettings, summary: Summary) -> None:
    engine = build_engine(settings)
    series = source.stem
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with source.open(newline="") as fin, target.open("w", newline="") as fout:
        reader = csv.DictReader(fin)
        if not reader.fieldnames or not {"timestamp", "value"} <= set(reader.fieldnames):
            raise BacktestError(f"{source}: the header must name 'timestamp' and 'value'")
        writer = csv.writer(fout)
        writer.writerow(OUTPUT_HEADER)
        for row in reader:
            stamp, value = _parse_time(row["timestamp"]), _parse_value(row["value"])
            step = None
            if stamp is not None and value is not None:
                step = engine.step("backtest", series, stamp, value, "backtest")
            summary.rows += 1
            if step is None or step.verdict is None:
                summary.skipped += 1
                writer.writerow([row["timestamp"], row["value"], "0", "0", "skipped"])
                continue
            verdict = step.verdict
            if verdict.alarm:
                summary.alarms[verdict.severity.value] += 1
            writer.writerow(
                [
                    row["timestamp"],
                    row["value"],
                    f"{verdict.result.score:.6f}",
                    int(verdict.alarm),
                    verdict.severity.value,
                ]
            )
    summary.seconds += time.perf_counter() - started
    summary.files += 1


def plan(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """(source, target) pairs: one file to one file, or many (or directories) into a directory."""
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            pairs += [(f, output / f.relative_to(item)) for f in sorted(item.rglob("*.csv"))]
        elif item.is_file():
            pairs.append((item, output / item.name if _many(inputs) else output))
        else:
            raise BacktestError(f"{item}: no such file or directory")
    if not pairs:
        raise BacktestError("no CSV files to replay")
    return pairs


def _many(inputs: list[Path]) -> bool:
    return len(inputs) > 1 or any(i.is_dir() for i in inputs)


def run(inputs: list[Path], output: Path, config: Path | None) -> Summary:
    settings = load_settings(config)
    summary = Summary()
    for source, target in plan(inputs, output):
        replay_file(source, target, settings, summary)
    return summary
