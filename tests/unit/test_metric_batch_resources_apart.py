"""``resources_apart``: whether a metric batch may be scored before batches queued ahead of it
without changing the order of any series' samples (it must never say yes wrongly)."""

from __future__ import annotations

from shared.metric_batches import encode_columns, resources_apart


def _payload(*resources: str) -> bytes:
    count = len(resources)
    data = encode_columns(
        list(resources), ["cpu"] * count, [1.0] * count, [1_700_000_000_000_000] * count, None
    )["data"]
    assert isinstance(data, bytes)
    return data


def test_a_batch_of_other_resources_is_apart_even_when_one_id_starts_another() -> None:
    ahead = [_payload("host-10", "host-11"), _payload("db-1")]
    assert resources_apart(_payload("host-1"), ahead)
    assert resources_apart(_payload("probe-1"), [])


def test_a_batch_sharing_a_resource_with_any_batch_ahead_is_not() -> None:
    ahead = [_payload("host-10"), _payload("db-1", "host-1")]
    assert not resources_apart(_payload("probe-1", "host-1"), ahead)


def test_when_unsure_the_answer_is_no() -> None:
    ahead = [_payload("host-10")]
    assert not resources_apart(_payload('we"ird'), ahead)  # written with an escape
    assert not resources_apart(_payload("wéird"), ahead)  # not ASCII
    assert not resources_apart(b'{"samples": []}', ahead)  # not a batch of columns
    assert not resources_apart(b"not json", ahead)
