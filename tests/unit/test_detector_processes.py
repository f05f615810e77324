"""How `scops up --detectors N` splits the metric shards between detector processes."""

from __future__ import annotations

import pytest

from scops.processes import detector_processes, detector_shards


@pytest.mark.parametrize(("count", "shards"), [(1, 4), (2, 4), (3, 8), (4, 4)])
def test_every_shard_is_owned_by_exactly_one_process(count: int, shards: int) -> None:
    owned = [s for i in range(count) for s in detector_shards(i, count, shards)]
    assert sorted(owned) == list(range(shards))


def test_each_process_listens_apart_and_reads_its_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOPS_METRIC_SHARDS", "4")
    processes = detector_processes(2)
    assert [p.env["SCOPS_DETECTOR_SHARDS"] for p in processes] == ["0,2", "1,3"]
    assert len({p.url for p in processes}) == 2
    assert processes[0].url.rsplit(":", 1)[1] == "8001"


def test_more_processes_than_shards_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOPS_METRIC_SHARDS", "2")
    with pytest.raises(ValueError, match="SCOPS_METRIC_SHARDS"):
        detector_processes(3)
