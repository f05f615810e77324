"""``scops backtest --cloudwatch``: a CloudWatch series' history (PutMetricData into moto's
server, read back with GetMetricData through aioboto3) is replayed through the detector, its
spike found, under the product's metric name so the CPU rules would have fired."""

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

import boto3  # type: ignore[import-untyped]
import pytest

from tests.support.moto_server import CREDENTIALS, REGION, moto_server

REPO = Path(__file__).resolve().parents[3]
MINUTES = 400
SPIKE_AT = 350
INSTANCE = "i-0abc123def4567890"
RULES = """\
version: 1
rules:
  - name: cpu-spike-restart
    match: {metric: cpu_utilization, severity_at_least: high}
    actions: [{action: restart_service, params: {service: app}}]
"""


@pytest.fixture(scope="module")
def cloudwatch() -> Iterator[tuple[str, float]]:
    """moto's server holding 400 minutes of an instance's CPUUtilization, one spike to 97 %;
    yields its URL and the first minute."""
    start = float((int(time.time()) // 60 - MINUTES - 5) * 60)
    rng = random.Random(5)
    values = [round(rng.gauss(40, 2), 3) for _ in range(MINUTES)]
    values[SPIKE_AT] = 97.0
    with moto_server() as url:
        client = boto3.client("cloudwatch", endpoint_url=url, region_name=REGION, **CREDENTIALS)
        data = [
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": INSTANCE}],
                "Timestamp": datetime.fromtimestamp(start + 60 * i, UTC),
                "Value": value,
                "Unit": "Percent",
            }
            for i, value in enumerate(values)
        ]
        for first in range(0, len(data), 500):
            client.put_metric_data(Namespace="AWS/EC2", MetricData=data[first : first + 500])
        yield url, start


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def test_cloudwatch_history_is_replayed_and_its_spike_would_have_restarted_the_service(
    cloudwatch: tuple[str, float], tmp_path: Path
) -> None:
    url, start = cloudwatch
    (tmp_path / "rules.yaml").write_text(RULES)
    done = subprocess.run(
        [
            sys.executable, "-m", "scops", "backtest",
            "--cloudwatch", f"AWS/EC2:CPUUtilization:InstanceId={INSTANCE}",
            "--start", _iso(start), "--end", _iso(start + 60 * MINUTES),
            "--period", "1m", "--output", str(tmp_path / "out"),
            "--rules", str(tmp_path / "rules.yaml"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "SCOPS_AWS_REGION": REGION,
            "SCOPS_AWS_ENDPOINT_URL": url,
            "SCOPS_AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "SCOPS_AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "SCOPS_SCRIPT_CATALOGUE_PATH": str(REPO / "deploy/config/script-catalogue.yaml"),
        },
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (series,) = json.loads((tmp_path / "out" / "index.json").read_text())
    assert (series["resource_id"], series["metric"], series["points"]) == (
        INSTANCE,
        "cpu_utilization",
        MINUTES,
    )
    with (tmp_path / "out" / series["file"]).open(newline="") as f:
        rows = list(csv.DictReader(f))
    spike = rows[SPIKE_AT]
    assert spike["timestamp"] == _iso(start + 60 * SPIKE_AT)
    assert (spike["value"], spike["is_anomaly"]) == ("97.0", "1")
    assert sum(r["is_anomaly"] == "1" for r in rows) <= 3
    out = done.stdout.splitlines()
    assert out[0].startswith(f"1 file(s), {MINUTES} rows (0 skipped)")
    assert any(line.startswith("  rule cpu-spike-restart: restart_service x") for line in out)
    assert any(f"{INSTANCE}/cpu_utilization = 97" in line for line in out)


def test_without_an_aws_region_the_backtest_says_what_to_set(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "scops", "backtest",
            "--cloudwatch", f"AWS/EC2:CPUUtilization:InstanceId={INSTANCE}",
            "--output", str(tmp_path / "out"),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "error: CloudWatch needs AWS: set SCOPS_AWS_REGION (and credentials)\n"
