"""The decision's packed Redis calls answer what the client's own calls answer, keep the
connection in step after an error reply, reload a script Redis lost, and never hand back a
connection with a reply pending."""

from __future__ import annotations

import pytest
import redis

from services.remediator.stores.decision_steps import NOTE_AND_READ
from services.remediator.stores.packed_calls import PackedCalls, pack


def test_values_are_written_as_the_client_writes_them(sync_redis: redis.Redis) -> None:
    calls = PackedCalls(sync_redis)
    calls.run(
        [
            ["SET", "packed:str", "héllo wörld"],
            ["SET", "packed:bytes", b"\x00\xffraw"],
            ["SET", "packed:int", -42],
            ["SET", "packed:float", 0.1],
        ]
    )
    sync_redis.set("client:float", 0.1)
    assert sync_redis.get("packed:str") == "héllo wörld".encode()
    assert sync_redis.get("packed:bytes") == b"\x00\xffraw"
    assert sync_redis.get("packed:int") == b"-42"
    assert sync_redis.get("packed:float") == sync_redis.get("client:float")


def test_replies_come_back_in_order(sync_redis: redis.Redis) -> None:
    replies = PackedCalls(sync_redis).run(
        [["RPUSH", "packed:list", "a", "b"], ["LRANGE", "packed:list", 0, -1], ["GET", "nothing"]]
    )
    assert replies == [2, [b"a", b"b"], None]


def test_an_error_reply_is_raised_after_the_rest_ran_and_the_connection_stays_usable(
    sync_redis: redis.Redis,
) -> None:
    sync_redis.set("packed:text", "not a list")
    calls = PackedCalls(sync_redis)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        calls.run([["LPUSH", "packed:text", "x"], ["SET", "packed:after", "written"]])
    assert sync_redis.get("packed:after") == b"written"  # the later command still ran
    # The next calls on the pooled connection read their own replies, not a stale one.
    assert calls.run([["GET", "packed:after"]]) == [b"written"]
    assert sync_redis.get("packed:text") == b"not a list"


def test_a_script_redis_lost_is_loaded_again(sync_redis: redis.Redis) -> None:
    calls = PackedCalls(sync_redis)
    script = sync_redis.register_script(NOTE_AND_READ)
    keys = ["packed:recent", "packed:rules", "packed:shadow"]
    calls.script(script, keys, ["cpu", 1_000_000, 60_000])
    sync_redis.script_flush()
    reply = calls.script(script, keys, ["mem", 1_000_001, 60_000])
    assert sorted(reply[0]) == [b"cpu", b"mem"]


def test_an_interrupted_call_drops_its_connection(sync_redis: redis.Redis) -> None:
    """A call stopped while its reply is still on the way (a task's time limit) must not leave
    that reply for the next call on the same connection."""
    calls = PackedCalls(sync_redis)
    conn = sync_redis.connection_pool.get_connection()
    sync_redis.connection_pool.release(conn)

    class Stop(BaseException):
        pass

    real = conn.read_response

    def interrupted(*args: object, **kwargs: object) -> object:
        conn.read_response = real
        raise Stop

    conn.read_response = interrupted
    with pytest.raises(Stop):
        calls.run([["SET", "packed:first", "1"]])
    assert calls.run([["INCRBY", "packed:counter", 5]]) == [5]
    assert sync_redis.get("packed:first") == b"1"


def test_other_types_are_refused() -> None:
    with pytest.raises(redis.DataError):
        pack(["SET", "k", True])
    with pytest.raises(redis.DataError):
        pack(["SET", "k", None])  # type: ignore[list-item]
