"""Fixtures for modules whose tests share one stack: the suite's Redis, emptied once per module
rather than per test (emptying it under a running service would pull its consumer groups from
under it). Such a module overrides ``redis_url`` with ``module_redis`` and its tests tell their
data apart by what they add: new keys, unique resource ids, counts taken before and after."""

from __future__ import annotations

import pytest
import redis


@pytest.fixture(scope="module")
def module_redis(redis_server: str) -> str:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server
