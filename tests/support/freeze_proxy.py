"""A TCP proxy in front of Redis that, once armed, holds back (never forwards) the first client
write carrying a chosen RESP command, and everything that client sends after it: a test then
kills the client process with SIGKILL at exactly that point (the held command never reached
Redis, and nothing after it did). Armed with ``cut=True`` it closes that client's connection
there instead, as a Redis killed at that moment would: the command fails and never lands. With
``answer_lost=True`` the command does land, and the connection is closed before its answer
comes back (Redis killed right after it ran it)."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

from scops.local_redis import free_port


def command(name: bytes, key: str) -> bytes:
    """A pattern for the RESP command ``name`` whose first argument is ``key``."""
    return re.escape(name) + rb"\r\n\$\d+\r\n" + re.escape(key.encode())


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class FreezeProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.pattern: re.Pattern[bytes] | None = None
        self.cut = False
        self.answer_lost = False
        self._muted: set[socket.socket] = set()  # clients whose answers are dropped
        self.tripped = threading.Event()
        self.held = b""
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def arm(self, pattern: bytes, *, cut: bool = False, answer_lost: bool = False) -> None:
        with self._lock:
            self.pattern = re.compile(pattern, re.S)
            self.cut = cut
            self.answer_lost = answer_lost
            self.tripped.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._upward, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._downward, args=(upstream, client), daemon=True).start()

    def _downward(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if dst in self._muted:
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src, dst)

    def _held_from(self, data: bytes) -> int | None:
        """Where in ``data`` the command to hold back starts (None: not in it, or not armed)."""
        with self._lock:
            if self.pattern is None or self.tripped.is_set():
                return None
            match = self.pattern.search(data)
            if match is None:
                return None
            # back to the array header of the matching command (``*3\r\n$4\r\nXACK...``)
            start = data.rfind(b"*", 0, match.start())
            while start > 0 and data[start - 2 : start] != b"\r\n":
                start = data.rfind(b"*", 0, start)
            self.tripped.set()
            return max(start, 0)

    def _upward(self, src: socket.socket, dst: socket.socket) -> None:
        frozen = False
        try:
            while data := src.recv(65536):
                if frozen:
                    continue
                start = self._held_from(data)
                if start is None:
                    dst.sendall(data)
                    continue
                if start:
                    dst.sendall(data[:start])
                self.held = data[start:]
                if self.answer_lost:
                    self._muted.add(src)
                    dst.sendall(data)
                    time.sleep(0.2)  # Redis runs it; its answer is dropped
                    return  # the connection is closed below
                if self.cut:
                    return  # the connection is closed below, the command not sent
                frozen = True
        except OSError:
            pass
        finally:
            _close(src, dst)

    def close(self) -> None:
        self._server.close()
        _close(*self._sockets)
