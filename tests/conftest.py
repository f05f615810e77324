"""Fixtures: a Redis server of the suite's own (started here, stopped at the end)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from scops.local_redis import ensure_redis, free_port
from tests.support.slack_standin import SlackStandIn


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A redis-server on a free port, so the suite never touches another Redis."""
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    yield handle.url
    handle.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The suite's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server


@pytest.fixture(scope="module")
def module_redis(redis_server: str) -> str:
    """The suite's Redis emptied once for this module, for modules whose tests share one
    stack (emptying it under running services would pull their consumer groups from under
    them). Such a module overrides ``redis_url`` with it; its tests tell their data apart by
    what they add: new keys, their own resource ids, counts taken before and after."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
async def async_redis(redis_url: str) -> AsyncIterator[AsyncRedis]:
    client = AsyncRedis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    standin = SlackStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


def _tier(item: pytest.Item) -> int:
    parts = item.nodeid.split("/")
    return {"e2e": 0, "integration": 1}.get(parts[1] if len(parts) > 1 else "", 2)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files that start processes first, the unit tests last: two workers take files in
    this order, so the short ones fill the end of the run instead of one long file running
    alone after everything else (``--no-loadscope-reorder`` keeps this order)."""
    items.sort(key=_tier)


#: Packages whose files share one package-scoped stack (see their conftest): every file of such
#: a package goes to the same worker, one after the other, so the stack starts once per run
#: instead of once per worker that happens to take one of its files.
SHARED_STACK_PACKAGES = (
    "tests/integration/console/",
    "tests/integration/gateway_chatops/",
    "tests/integration/observability/",
)


def shared_stack_scope(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or its package when the package's files
    share a stack."""
    path = nodeid.split("::", 1)[0]
    return next((p for p in SHARED_STACK_PACKAGES if path.startswith(p)), path)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, with the files of a shared-stack package as one unit."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedStackScheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return shared_stack_scope(nodeid)

    return SharedStackScheduling(config, log)
