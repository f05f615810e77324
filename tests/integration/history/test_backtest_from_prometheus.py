"""``scops backtest --prometheus``: history stored in a real Prometheus is read back (in chunks
under Prometheus' 11,000-points-per-series limit), replayed through the detector one CSV per
series, and summarised with the anomalies, the pages and the rules that would have fired."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.prometheus_backfill import MISSING, openmetrics, prometheus_with

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

REPO = Path(__file__).resolve().parents[3]
POINTS = 12_600  # 3.5 h at 1 s: more than one query may return per series
SPIKE_AT = 12_000
RULES = """\
version: 1
rules:
  - name: watch-cpu
    mode: shadow
    match: {metric: "cpu_*"}
    actions: [{action: enhance_monitoring}]
  - name: cpu-spike-restart
    match: {metric: cpu_utilization, severity_at_least: high}
    actions: [{action: restart_service, params: {service: app}}]
"""


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float]]:
    """Prometheus holding cpu_utilization of web-1 (one spike to 97 %) and web-2 (calm), one
    sample a second for 3.5 hours ending ten minutes ago; yields its URL and the first time."""
    start = float(int(time.time()) - 600 - POINTS)
    rng = random.Random(7)
    series = {}
    for instance in ("web-1", "web-2"):
        values = [round(rng.gauss(40, 2), 3) for _ in range(POINTS)]
        if instance == "web-1":
            values[SPIKE_AT] = 97.0
        key = f'instance="{instance}",job="node"'
        series[key] = [(start + i, v) for i, v in enumerate(values)]
    with prometheus_with(
        openmetrics("cpu_utilization", series), tmp_path_factory.mktemp("p")
    ) as url:
        yield url, start


def _backtest(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scops", "backtest", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "SCOPS_SCRIPT_CATALOGUE_PATH": str(REPO / "deploy/config/script-catalogue.yaml"),
        },
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def test_prometheus_history_is_replayed_per_series_and_its_spike_would_have_restarted_the_service(
    history: tuple[str, float], tmp_path: Path
) -> None:
    url, start = history
    (tmp_path / "rules.yaml").write_text(RULES)
    done = _backtest(
        "--prometheus", url,
        "--query", 'cpu_utilization{job="node"}',
        "--start", _iso(start),
        "--end", _iso(start + POINTS - 1),
        "--step", "1s",
        "--output", tmp_path / "out",
        "--rules", tmp_path / "rules.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert sorted((s["resource_id"], s["metric"], s["points"]) for s in index) == [
        ("web-1", "cpu_utilization", POINTS),
        ("web-2", "cpu_utilization", POINTS),
    ]
    by_resource = {s["resource_id"]: s["file"] for s in index}
    with (tmp_path / "out" / by_resource["web-1"]).open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == POINTS  # both chunks, joined without a gap or a repeat
    assert [r["timestamp"] for r in rows[:2]] == [_iso(start), _iso(start + 1)]
    assert rows[SPIKE_AT]["timestamp"] == _iso(start + SPIKE_AT)
    assert (rows[SPIKE_AT]["value"], rows[SPIKE_AT]["is_anomaly"]) == ("97.0", "1")
    assert rows[SPIKE_AT]["severity"] in ("high", "critical")
    out = done.stdout.splitlines()
    assert out[0].startswith(f"2 file(s), {2 * POINTS} rows (0 skipped), anomalous samples: ")
    assert out[1].startswith("anomalies: ") and "would have paged" in out[1]
    assert any(line.startswith("rules ") and "dry run over" in line for line in out)
    assert any(line.startswith("  rule cpu-spike-restart: restart_service x") for line in out)
    assert any(line.startswith("  shadow rule watch-cpu: would have recorded") for line in out)
    spike = f"{_iso(start + SPIKE_AT)} web-1/cpu_utilization = 97"
    assert any(spike in line and "cpu-spike-restart -> restart app" in line for line in out)


def test_a_query_prometheus_refuses_stops_the_backtest_in_one_line_and_writes_nothing(
    history: tuple[str, float], tmp_path: Path
) -> None:
    url, start = history
    done = _backtest(
        "--prometheus", url, "--query", "cpu_utilization{", "--start", _iso(start),
        "--end", _iso(start + 600), "--step", "1s", "--output", tmp_path / "out",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.startswith("error: ")
        and "Prometheus refused the query: bad_data" in done.stderr
    )
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_query_matching_no_series_is_refused(history: tuple[str, float], tmp_path: Path) -> None:
    url, start = history
    done = _backtest(
        "--prometheus", url, "--query", "no_such_metric", "--start", _iso(start),
        "--end", _iso(start + 600), "--output", tmp_path / "out", cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        2,
        "error: the source returned no series in that range\n",
    )
