"""The decision's packed Redis calls answer what the client's own calls answer, keep the
connection in step after an error reply, reload a script Redis lost, and never hand back a
connection with a reply pending."""

from __future__ import annotations

import signal
import threading

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


# Answers after 0.3 s of busy waiting inside Redis.
LATE = """
local start = redis.call('TIME')
repeat
  local now = redis.call('TIME')
until (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > 300000
return 'late'
"""


class Stop(Exception):
    pass


def _stop(*_: object) -> None:
    raise Stop


def test_a_call_stopped_while_its_reply_is_on_the_way_leaves_nothing_for_the_next(
    sync_redis: redis.Redis,
) -> None:
    """A task's time limit can stop a call between sending it and reading its reply (Celery
    raises inside the task from a signal handler); the next call must read its own reply."""
    calls = PackedCalls(sync_redis)
    sync_redis.set("packed:mine", "my reply")
    assert calls.run([["GET", "packed:mine"]]) == [b"my reply"]
    previous = signal.signal(signal.SIGALRM, _stop)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Stop):
            calls.run([["EVAL", LATE, 0]])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert calls.run([["GET", "packed:mine"]]) == [b"my reply"]
    assert calls.run([["INCRBY", "packed:counter", 5]]) == [5]


def test_calls_from_several_threads_each_read_their_own_replies(sync_redis: redis.Redis) -> None:
    calls = PackedCalls(sync_redis)
    failures: list[str] = []

    def work(n: int) -> None:
        for i in range(200):
            value = f"{n}:{i}"
            reply = calls.run([["SET", f"packed:t{n}", value], ["GET", f"packed:t{n}"]])
            if reply != [True, value.encode()] and reply != [b"OK", value.encode()]:
                failures.append(f"{value}: {reply}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_other_types_are_refused() -> None:
    with pytest.raises(redis.DataError):
        pack(["SET", "k", True])
    with pytest.raises(redis.DataError):
        pack(["SET", "k", None])  # type: ignore[list-item]


def test_a_connection_redis_closed_meanwhile_is_replaced_before_the_call(
    sync_redis: redis.Redis,
) -> None:
    # A Redis restart (or a CLIENT KILL, an idle timeout) closes the connection held between
    # decisions; the next decision must reconnect, as a client checking one out of its pool
    # does, not fail (a record written after a restart was lost until a later retry).
    calls = PackedCalls(sync_redis)
    (held,) = calls.run([["CLIENT", "ID"]])  # only this connection: other tests share Redis
    assert sync_redis.client_kill_filter(_id=held) == 1
    assert calls.run([["SET", "packed:after", "2"]]) == [b"OK"]
    assert sync_redis.get("packed:after") == b"2"
