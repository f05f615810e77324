"""Ports picked for several local servers at once never collide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scops.local_redis import free_port


def test_ports_handed_out_by_one_process_are_all_different() -> None:
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)


def _ports_of_worker(worker: str, count: int, how_many: int) -> list[int]:
    env = {**os.environ, "PYTEST_XDIST_WORKER": worker, "PYTEST_XDIST_WORKER_COUNT": str(count)}
    script = (
        "from scops.local_redis import free_port\n"
        f"print(' '.join(str(free_port()) for _ in range({how_many})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    return [int(port) for port in out.split()]


def test_test_workers_running_side_by_side_pick_ports_from_blocks_of_their_own() -> None:
    first = _ports_of_worker("gw0", 2, 300)
    second = _ports_of_worker("gw1", 2, 300)
    assert len(set(first)) == len(first) and len(set(second)) == len(second)
    assert max(first) < min(second)
    # Below the kernel's ephemeral ports, which servers binding port 0 get.
    low, _high = (
        int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    )
    assert max(second) < low
