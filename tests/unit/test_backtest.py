"""``scops backtest``: a file, a directory, a NAB checkout and ``--config`` replayed through the
production engine; bad input refused in one line with exit status 2 and no output left behind."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scops.cli import main

START = datetime(2026, 1, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def _series(n: int = 400, spike_at: int | None = None, seed: int = 1) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = [
        ((START + timedelta(minutes=i)).isoformat(), f"{rng.gauss(40, 2):.3f}") for i in range(n)
    ]
    if spike_at is not None:
        rows[spike_at] = (rows[spike_at][0], "97.0")
    return rows


def _write(path: Path, rows: list[tuple[str, str]], header: str = "timestamp,value") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _backtest(*args: str | Path) -> int:
    return main(["backtest", *map(str, args)])


def test_a_single_file_is_scored_row_by_row_and_its_spike_pages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "cpu.csv", _series(spike_at=350))
    assert _backtest("--input", source, "--output", tmp_path / "scored.csv") == 0
    rows = _read(tmp_path / "scored.csv")
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "is_anomaly", "severity"]
    assert [(r["timestamp"], r["value"]) for r in rows] == _series(spike_at=350)
    assert rows[350]["is_anomaly"] == "1"
    assert rows[350]["severity"] == "critical"
    assert all(r["is_anomaly"] == "0" and r["severity"] == "normal" for r in rows[200:350])
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    out = capsys.readouterr().out
    assert out.startswith("1 file(s), 400 rows (0 skipped), anomalous samples: ")
    assert "critical" in out and "samples/s" in out


def test_a_directory_is_scored_file_by_file_keeping_its_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "history" / "web" / "cpu.csv", _series(50))
    _write(tmp_path / "history" / "db" / "disk.csv", _series(30, seed=2))
    (tmp_path / "history" / "notes.txt").write_text("not a series")
    assert _backtest("--input", tmp_path / "history", "--output", tmp_path / "scored") == 0
    assert len(_read(tmp_path / "scored" / "web" / "cpu.csv")) == 50
    assert len(_read(tmp_path / "scored" / "db" / "disk.csv")) == 30
    assert sorted(p.name for p in (tmp_path / "scored").rglob("*")) == [
        "cpu.csv",
        "db",
        "disk.csv",
        "web",
    ]
    assert capsys.readouterr().out.startswith("2 file(s), 80 rows (0 skipped)")


def test_config_settings_change_what_the_replay_pages(tmp_path: Path) -> None:
    rows = _series(100)
    rows[60] = (rows[60][0], "99.0")
    source = _write(tmp_path / "disk_used_percent.csv", rows)
    limit = {"metric": "disk*", "above": 95, "severity": "high"}
    config = tmp_path / "detector.json"
    config.write_text(json.dumps({"warmup_samples": 300, "hard_limits": [limit]}))
    assert _backtest("--input", source, "--output", tmp_path / "a.csv", "--config", config) == 0
    assert [(r["is_anomaly"], r["severity"]) for r in _read(tmp_path / "a.csv")][59:62] == [
        ("0", "normal"),
        ("1", "high"),  # the configured limit pages although the series is warming up
        ("0", "normal"),
    ]
    config.write_text(json.dumps({"warmup_samples": 300, "hard_limits": []}))
    assert _backtest("--input", source, "--output", tmp_path / "b.csv", "--config", config) == 0
    assert {r["is_anomaly"] for r in _read(tmp_path / "b.csv")} == {"0"}


def test_gaps_and_repeated_rows_are_kept_as_skipped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _series(10)
    rows[3] = (rows[3][0], "")  # a gap
    rows[5] = (rows[5][0], "NaN")
    rows[7] = (rows[6][0], "41.0")  # the previous row's timestamp again
    source = _write(tmp_path / "cpu.csv", rows)
    assert _backtest("--input", source, "--output", tmp_path / "out.csv") == 0
    severities = [r["severity"] for r in _read(tmp_path / "out.csv")]
    assert [i for i, s in enumerate(severities) if s == "skipped"] == [3, 5, 7]
    assert "10 rows (3 skipped)" in capsys.readouterr().out


def test_epoch_seconds_are_read_as_timestamps(tmp_path: Path) -> None:
    rows = [(str(1_700_000_000 + 60 * i), v) for i, (_, v) in enumerate(_series(20))]
    source = _write(tmp_path / "cpu.csv", rows)
    assert _backtest("--input", source, "--output", tmp_path / "out.csv") == 0
    assert "skipped" not in {r["severity"] for r in _read(tmp_path / "out.csv")}


ONE_ROW = "timestamp,value\n2026-01-01T00:00:00,1\n"
BAD_INPUTS = {
    "missing file": (None, "no such file or directory"),
    "empty file": ("", "the file is empty"),
    "header only": ("timestamp,value\n", "no rows after the header"),
    "columns not named": ("time,cpu\n2026-01-01T00:00:00,1\n", "must name 'timestamp' and"),
    "value not a number": (ONE_ROW + "2026-01-01T00:01:00,12%\n", "line 3: value '12%' is not"),
    "unreadable timestamp": ("timestamp,value\nyesterday,1\n", "line 2: timestamp 'yesterday'"),
    "short row": ("timestamp,value\n2026-01-01T00:00:00\n", "line 2: fewer fields"),
    "not text": ("timestamp,value\n\xff\xfe,1\n", "not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_in_one_line_naming_the_file_and_leaves_no_output(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, reason = BAD_INPUTS[case]
    source = tmp_path / "cpu.csv"
    if content is not None:
        source.write_bytes(content.encode("latin-1"))
    assert _backtest("--input", source, "--output", tmp_path / "out" / "scored.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {source}")
    assert reason in err
    assert not list(tmp_path.glob("out/*"))


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (None, "cannot read the configuration"),
        ("{warmup_samples: 300}", "not valid JSON"),
        ('[{"warmup_samples": 300}]', "must be a JSON object"),
        ('{"warmup_sample": 300}', "unknown setting(s): warmup_sample"),
        ('{"warmup_samples": 1}', "warmup_samples: "),
        ('{"hard_limits": [{"metric": "disk*", "severity": "urgent"}]}', "hard_limits.0.severity"),
    ],
)
def test_a_bad_configuration_is_refused_in_one_line(
    config: str | None, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "cpu.csv", _series(5))
    path = tmp_path / "detector.json"
    if config is not None:
        path.write_text(config)
    args = ("--input", source, "--output", tmp_path / "out.csv", "--config", path)
    assert _backtest(*args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ")
    assert reason in err
    assert not (tmp_path / "out.csv").exists()


def test_an_output_that_would_overwrite_the_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "cpu.csv", _series(5))
    before = source.read_text()
    assert _backtest("--input", source, "--output", source) == 2
    assert "the output would overwrite it" in capsys.readouterr().err
    assert source.read_text() == before


def test_several_inputs_need_an_output_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write(tmp_path / "a.csv", _series(5))
    b = _write(tmp_path / "b.csv", _series(5))
    existing = _write(tmp_path / "out.csv", [])
    assert _backtest("--input", a, "--input", b, "--output", existing) == 2
    assert "several inputs need an output directory" in capsys.readouterr().err


def test_the_command_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    source = _write(tmp_path / "cpu.csv", [("2026-01-01T00:00:00", "high")])
    done = subprocess.run(
        [sys.executable, "-m", "scops", "backtest", "--input", str(source), "--output", "x.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == f"error: {source}, line 2: value 'high' is not a number\n"
    assert not (tmp_path / "x.csv").exists()


def test_a_nab_checkout_is_replayed_into_the_layout_nab_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nab = tmp_path / "NAB"
    _write(nab / "data" / "realAWSCloudwatch" / "ec2_cpu_utilization_1.csv", _series(30))
    _write(nab / "data" / "realTraffic" / "speed_1.csv", _series(20, seed=2))
    assert _backtest("--nab-dir", nab) == 0
    results = nab / "results" / "scops"
    assert len(_read(results / "realAWSCloudwatch" / "scops_ec2_cpu_utilization_1.csv")) == 30
    assert len(_read(results / "realTraffic" / "scops_speed_1.csv")) == 20
    assert capsys.readouterr().out.startswith("2 file(s), 50 rows")


def test_a_directory_that_is_not_a_nab_checkout_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _backtest("--nab-dir", tmp_path) == 2
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path}: not a NAB checkout (it has no data/ directory)\n"
    )


def _nab_dir() -> Path:
    return Path(os.environ.get("NAB_DIR") or REPO.parent / "shared" / "nab")


@pytest.mark.skipif(
    not (_nab_dir() / "data").is_dir(),
    reason="no NAB data (set NAB_DIR to a NAB checkout, or place one at ../shared/nab)",
)
def test_a_nab_series_is_replayed_one_scored_row_per_input_row(tmp_path: Path) -> None:
    source = _nab_dir() / "data" / "artificialWithAnomaly" / "art_daily_jumpsup.csv"
    assert _backtest("--input", source, "--output", tmp_path / "scored.csv") == 0
    scored = _read(tmp_path / "scored.csv")
    assert [(r["timestamp"], r["value"]) for r in scored] == [
        (r["timestamp"], r["value"]) for r in _read(source)
    ]
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in scored)
    assert {r["severity"] for r in scored} <= {"normal", "low", "medium", "high", "critical"}
