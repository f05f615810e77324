"""Ports picked for several local servers at once never collide."""

from __future__ import annotations

from scops.local_redis import free_port


def test_ports_handed_out_by_one_process_are_all_different() -> None:
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
