"""On a busy metrics shard the series chart still draws the last hour of a series (the page
says which span it covers), not only what the newest few hundred entries of the shard hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from shared.settings import BaseServiceSettings
from shared.streams import metrics_stream, shard_of
from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import ConsoleClient

QUIET, METRIC = "quiet-5", "disk_io_wait"
BUSY_ENTRIES = 1_500  # written after the quiet series' values, within the same minute


def _neighbour(of: str, shards: int) -> str:
    """A resource whose values go to the same shard as ``of``'s."""
    return next(
        name for i in range(10_000) if shard_of(name := f"busy-{i}", shards) == shard_of(of, shards)
    )


def test_the_series_chart_covers_its_hour_on_a_busy_shard(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    shards = BaseServiceSettings.model_fields["metric_shards"].default  # the stack keeps it
    ingest = console_stack.key("ingest", "coll")
    now = datetime.now(UTC).replace(microsecond=0)
    quiet = [
        {
            "resource_id": QUIET,
            "metric": METRIC,
            "value": float(i),
            "timestamp": (now - timedelta(minutes=10 - i)).isoformat(),
        }
        for i in range(3)
    ]
    busy = _neighbour(QUIET, shards)
    for samples in (
        quiet,
        [{"resource_id": busy, "metric": "cpu", "value": 1.0, "timestamp": now.isoformat()}],
    ):
        accepted = console_stack.api("POST", "/v1/metrics", ingest, json={"samples": samples})
        assert accepted.status_code == 202, accepted.text
    stream = metrics_stream(shard_of(QUIET, shards))
    client = redis.Redis.from_url(console_stack.redis_url)
    try:
        ((_, fields),) = client.xrevrange(stream, count=1)  # the busy resource's batch
        pipe = client.pipeline(transaction=False)
        for _ in range(BUSY_ENTRIES):
            pipe.xadd(stream, fields)
        pipe.execute()
    finally:
        client.close()
    console.sign_in(console_stack.key("viewer", "vera"))
    page = console.page(f"/console/series?resource_id={QUIET}&metric={METRIC}")
    assert page.status_code == 200
    assert "3 values of the last 60 minutes" in page.text, page.text
    assert '<path class="values"' in page.text
