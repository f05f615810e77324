"""``scops backtest``: replay CSV history through the production streaming detector.

Each input CSV has a header naming ``timestamp`` and ``value`` and is one series. Every row goes
through exactly the engine the detector service runs (scoring, severity, episodes), and one output
row is written per input row: ``timestamp,value,anomaly_score,is_anomaly,severity``.

A gap in the data (an empty value, ``NaN``, ``inf``) and a row not newer than the previous one
(a duplicate, an out-of-order row) are not scored: they get score 0 and severity ``skipped``, and
the summary counts them. Anything else that is not data (a value that is not a number, a
timestamp that is neither ISO 8601 nor epoch seconds, a missing column, an empty file) stops the
run with one line naming the file, the line and the reason; no partial output is left behind.
Timestamps are replayed as they are: the service's refusal of samples from the far future does
not apply to history.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.detector.config import DetectorSettings
from services.detector.engine_setup import build_engine
from shared.events import AnomalyEvent, Event

OUTPUT_HEADER = ["timestamp", "value", "anomaly_score", "is_anomaly", "severity"]
REQUIRED_COLUMNS = ("timestamp", "value")
GAPS = frozenset({"", "nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "null", "none"})


class BacktestError(Exception):
    """An input that cannot be replayed (the message says which file and why)."""


@dataclass
class Summary:
    files: int = 0
    rows: int = 0
    skipped: int = 0
    seconds: float = 0.0
    alarms: Counter[str] = field(default_factory=Counter)
    episodes: set[tuple[str, str, str]] = field(default_factory=set)  # anomalies opened
    pages: int = 0  # anomaly events published (openings and escalations): what the notifier sends

    def count(self, event: Event) -> None:
        if isinstance(event, AnomalyEvent):
            self.pages += 1
            began = event.episode_started_at or event.observed_at
            self.episodes.add((event.resource_id, event.metric, began.isoformat()))

    def anomalies_text(self) -> str:
        return (
            f"anomalies: {len(self.episodes)} opened; would have paged {self.pages} time(s) "
            "(openings and escalations)"
        )

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
    """Detector settings from the environment, overridden by a JSON object's keys if given (the
    ``SCOPS_`` names in lower case). An unknown key is refused: a misspelt setting would
    otherwise be ignored and the backtest would silently measure the defaults."""
    if config is None:
        return DetectorSettings()
    try:
        overrides: Any = json.loads(config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BacktestError(f"{config}: cannot read the configuration: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BacktestError(f"{config}: not valid JSON: {exc}") from exc
    if not isinstance(overrides, dict):
        raise BacktestError(f"{config}: must be a JSON object of detector settings")
    unknown = sorted(set(overrides) - set(DetectorSettings.model_fields))
    if unknown:
        raise BacktestError(f"{config}: unknown setting(s): {', '.join(map(str, unknown))}")
    try:
        return DetectorSettings(**overrides)
    except ValidationError as exc:
        problems = [
            ".".join(map(str, error["loc"])) + ": " + str(error["msg"])
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise BacktestError(f"{config}: {'; '.join(problems)}") from exc


@dataclass(frozen=True, slots=True)
class Row:
    timestamp_text: str
    value_text: str
    timestamp: datetime
    value: float  # NaN for a gap


def parse_time(text: str) -> datetime | None:
    """A plain number is epoch seconds; anything else must be ISO 8601 (naive means UTC)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            return None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _value(text: str) -> float | None:
    """The number, NaN for a gap, None for text that is not a number."""
    if text.strip().lower() in GAPS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def read_rows(source: Path) -> Iterator[Row]:
    """The rows of one input file, or :class:`BacktestError` at the first one that is not data."""
    try:
        with source.open(newline="", encoding="utf-8-sig") as fin:
            reader = csv.DictReader(fin)
            if reader.fieldnames is None:
                raise BacktestError(f"{source}: the file is empty (a header is needed)")
            missing = [c for c in REQUIRED_COLUMNS if c not in reader.fieldnames]
            if missing:
                named = ", ".join(repr(f) for f in reader.fieldnames)
                raise BacktestError(
                    f"{source}: the header must name 'timestamp' and 'value'; it names {named}"
                )
            rows = 0
            for record in reader:
                rows += 1
                yield _row(source, reader.line_num, record)
            if rows == 0:
                raise BacktestError(f"{source}: no rows after the header")
    except UnicodeDecodeError as exc:
        raise BacktestError(f"{source}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise BacktestError(f"{source}: not a readable CSV: {exc}") from exc
    except OSError as exc:
        raise BacktestError(f"{source}: cannot read: {exc.strerror}") from exc


def _row(source: Path, line: int, record: dict[str | Any, str | Any]) -> Row:
    stamp_text, value_text = record.get("timestamp"), record.get("value")
    if stamp_text is None or value_text is None:
        raise BacktestError(f"{source}, line {line}: fewer fields than the header names")
    stamp = parse_time(stamp_text)
    if stamp is None:
        raise BacktestError(
            f"{source}, line {line}: timestamp {stamp_text[:40]!r} is neither ISO 8601 "
            "nor epoch seconds"
        )
    value = _value(value_text)
    if value is None:
        raise BacktestError(f"{source}, line {line}: value {value_text[:40]!r} is not a number")
    return Row(stamp_text, value_text, stamp, value)


EventSink = Callable[[Event], None]


def replay_file(
    source: Path,
    target: Path,
    settings: DetectorSettings,
    summary: Summary,
    on_event: EventSink | None = None,
) -> None:
    """Score ``source`` into ``target``, written whole or not at all."""
    replay_rows(read_rows(source), target, settings, summary, "backtest", source.stem, on_event)


def replay_rows(
    rows_in: Iterable[Row],
    target: Path,
    settings: DetectorSettings,
    summary: Summary,
    resource_id: str,
    metric: str,
    on_event: EventSink | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    """Score one series' rows into ``target`` (written whole or not at all) through a fresh
    engine, as series ``resource_id``/``metric``; every event the detector would publish
    (an anomaly opened or escalated, a resolution) goes to ``on_event``."""
    engine = build_engine(settings)
    engine.max_future_s = None  # history may be dated anywhere
    partial = target.with_name(target.name + ".partial")
    rows = skipped = 0
    alarms: Counter[str] = Counter()
    events: list[Event] = []
    started = time.perf_counter()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("w", newline="", encoding="utf-8") as fout:
            writer = csv.writer(fout)
            writer.writerow(OUTPUT_HEADER)
            for row in rows_in:
                rows += 1
                step = engine.step(
                    resource_id, metric, row.timestamp, row.value, "backtest", labels
                )
                if step.event is not None:
                    events.append(step.event)
                verdict = step.verdict
                if verdict is None:
                    skipped += 1
                    writer.writerow([row.timestamp_text, row.value_text, "0", "0", "skipped"])
                    continue
                if verdict.alarm:
                    alarms[verdict.severity.value] += 1
                score = f"{verdict.result.score:.6f}"
                severity = verdict.severity.value
                writer.writerow(
                    [row.timestamp_text, row.value_text, score, int(verdict.alarm), severity]
                )
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BacktestError(f"{target}: cannot write: {exc.strerror}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    summary.seconds += time.perf_counter() - started
    summary.files += 1
    summary.rows += rows
    summary.skipped += skipped
    summary.alarms.update(alarms)
    for event in events:
        summary.count(event)
        if on_event is not None:
            on_event(event)


def plan(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """(source, target) pairs: one file to a file (or into an existing directory), or many files
    (or directories, their layout kept) into a directory."""
    many = len(inputs) > 1 or any(i.is_dir() for i in inputs)
    if many and output.is_file():
        raise BacktestError(f"{output}: is a file; several inputs need an output directory")
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            pairs += [(f, output / f.relative_to(item)) for f in sorted(item.rglob("*.csv"))]
        elif item.is_file():
            pairs.append((item, output / item.name if many or output.is_dir() else output))
        else:
            raise BacktestError(f"{item}: no such file or directory")
    if not pairs:
        raise BacktestError(f"no CSV files in {', '.join(map(str, inputs))}")
    return checked(pairs)


def checked(pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Refuse a plan that would overwrite an input or write one output twice."""
    sources = {source.resolve() for source, _ in pairs}
    seen: set[Path] = set()
    for _, target in pairs:
        where = target.resolve()
        if where in sources:
            raise BacktestError(f"{target}: is an input; the output would overwrite it")
        if where in seen:
            raise BacktestError(f"{target}: two inputs would be written to it")
        seen.add(where)
    return pairs


def replay(
    pairs: list[tuple[Path, Path]], config: Path | None, on_event: EventSink | None = None
) -> Summary:
    settings = load_settings(config)
    summary = Summary()
    for source, target in pairs:
        replay_file(source, target, settings, summary, on_event)
    return summary
