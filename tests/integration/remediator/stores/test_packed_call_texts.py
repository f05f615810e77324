"""Texts a worker sends again and again (names, key prefixes) and texts seen once (ids) are
written the same, however many have gone by."""

from __future__ import annotations

import redis

from services.remediator.stores.packed_calls import PackedCalls


def test_every_text_is_written_as_sent_however_many_came_before(sync_redis: redis.Redis) -> None:
    calls = PackedCalls(sync_redis)
    values = [f"wert-{n}-ü" if n % 3 else f"value-{n}" for n in range(6000)]
    for start in range(0, len(values), 500):
        calls.run([["SET", f"text:{n}", values[n]] for n in range(start, start + 500)])
    calls.run([["SET", "text:long", "x" * 200], ["SET", "text:again", "value-3"]])
    stored = sync_redis.mget([f"text:{n}" for n in range(len(values))])
    assert stored == [value.encode() for value in values]
    assert sync_redis.get("text:long") == b"x" * 200
    assert sync_redis.get("text:again") == b"value-3"
