"""A decision's Redis calls sent as one packed buffer on a pooled connection, their replies read
back in order.

A decision sends about a hundred arguments in its three round trips (two scripts and the record
writes); redis-py's command layer checks and encodes each argument in several Python calls and
adds its own bookkeeping per command, which cost the worker more CPU than the decision itself.
Here each command is packed by hiredis' C packer in one call and the replies read by the
connection's own parser.

It behaves as the client's calls do:

- a connection error or timeout is retried under the connection's retry policy (the client's),
  the connection dropped before each new attempt;
- an error reply is raised once every reply of the batch is read, so the connection stays in
  step; any other exception (a task's time limit mid-read) drops the connection, so no reply is
  ever left pending on a connection handed back to the pool;
- a script Redis no longer has (a restart, ``SCRIPT FLUSH``) is loaded and the call sent again;
- a connection Redis closed since the last call is replaced before the call, as the pool checks
  a connection it hands out.

Each instance keeps one connection of the pool for itself (taken again after a fork), so a call
does not check a connection out of the pool and back; a call made while another thread uses it
takes one from the pool as the client would.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import hiredis
import redis
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | bytes | int | float


def pack(args: Sequence[Arg]) -> bytes:
    """One command in the Redis protocol (``str`` as UTF-8); any other type is refused as the
    client refuses it."""
    try:
        # hiredis' stub types the tuple as of one item; it takes any number.
        packed: bytes = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
    except TypeError as exc:
        raise DataError(str(exc)) from None
    return packed


class PackedCalls:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pool = client.connection_pool
        self._own: Any = None  # this instance's connection, taken from the pool in ``_pid``
        self._pid = 0
        self._lock = threading.Lock()

    def run(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Sends ``commands`` in one write and answers their replies, in order. The first error
        reply is raised once all are read."""
        packed = [b"".join([pack(command) for command in commands])]
        if self._lock.acquire(blocking=False):
            try:
                if self._own is None or self._pid != os.getpid():
                    self._own = self.pool.get_connection()  # held, never released
                    self._pid = os.getpid()
                else:
                    _reconnect_if_closed(self._own)
                return _call(self._own, packed, len(commands))
            finally:
                self._lock.release()
        conn = self.pool.get_connection()  # another thread is using this instance's
        try:
            return _call(conn, packed, len(commands))
        finally:
            self.pool.release(conn)

    def script(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Runs a registered script by its hash (loading it first when Redis lacks it)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return self.run([command])[0]
        except NoScriptError:
            self.client.script_load(script.script)
            return self.run([command])[0]


def _reconnect_if_closed(conn: Any) -> None:
    """What the pool checks when it hands a connection out, for the one held between calls:
    Redis may have closed it meanwhile (a restart, ``CLIENT KILL``, its idle timeout), and a
    call on it would fail on the first write instead of reaching the Redis that is there now.
    Nothing is pending on a held connection between calls, so anything readable is the close."""
    try:
        if conn.can_read():
            raise RedisConnectionError("the connection has data between calls")
    except (RedisConnectionError, RedisTimeoutError, OSError):
        conn.disconnect()
        conn.connect()


def _call(conn: Any, packed: list[bytes], count: int) -> list[Any]:
    try:
        replies: list[Any] = conn.retry.call_with_retry(
            lambda: _send_and_read(conn, packed, count), lambda _error: conn.disconnect()
        )
        return replies
    except ResponseError:
        raise  # every reply was read: the connection is in step
    except BaseException:
        conn.disconnect()  # a reply may be pending: never reuse the connection as it is
        raise


def _send_and_read(conn: Any, packed: list[bytes], count: int) -> list[Any]:
    conn.send_packed_command(packed)
    replies: list[Any] = []
    error: ResponseError | None = None
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except ResponseError as exc:
            replies.append(exc)
            error = error or exc
    if error is not None:
        raise error
    return replies
