"""The Redis ``scops up`` starts keeps, after a ``kill -9``, everything it acknowledged, also
while the disk is busy (another process writing and syncing): Redis may then answer before its
append-only file was written, unless it writes it before every answer."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import redis

from scops.local_redis import ensure_redis, free_port

ROUNDS_S = 15.0  # of writes cut short by kill -9, while the disk is kept busy


def busy_disk(where: Path, stop: threading.Event) -> None:
    """Writes and syncs a large file again and again (the page cache flushed to disk)."""
    where.mkdir(exist_ok=True)
    junk = where / "junk"
    while not stop.is_set():
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={junk}", "bs=4M", "count=100", "conv=fsync"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    junk.unlink(missing_ok=True)


def test_kill_9_loses_nothing_acknowledged_while_the_disk_is_busy(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    handle = ensure_redis(url, data_dir=tmp_path / "redis")
    # What makes it hold whatever the disk does (the rounds below show it, when they can):
    # the append-only file is written before each answer, never held back behind an fsync.
    settings = redis.Redis.from_url(url, decode_responses=True)
    assert settings.config_get("appendonly") == {"appendonly": "yes"}
    assert settings.config_get("appendfsync") == {"appendfsync": "no"}
    settings.close()
    stop = threading.Event()
    disks = [
        threading.Thread(target=busy_disk, args=(tmp_path / str(i), stop), daemon=True)
        for i in range(2)
    ]
    for disk in disks:
        disk.start()
    losses = []
    try:
        began = time.monotonic()
        while time.monotonic() - began < ROUNDS_S:
            client = redis.Redis.from_url(url)
            acknowledged = int(client.get("n") or 0)
            until = time.monotonic() + 0.5
            while time.monotonic() < until:
                acknowledged = int(client.incr("n"))
                client.set(f"value:{acknowledged}", "x" * 2000)
            client.close()
            assert handle.process is not None
            handle.process.send_signal(signal.SIGKILL)
            handle.process.wait()
            handle.restart()
            client = redis.Redis.from_url(url)
            kept = int(client.get("n") or 0)
            client.close()
            if kept < acknowledged:
                losses.append(f"acknowledged {acknowledged}, kept {kept}")
    finally:
        stop.set()
        for disk in disks:
            disk.join(timeout=30)
        handle.stop()
    assert not losses, losses
