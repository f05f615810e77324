"""``scops history migrate`` (or ``python -m services.history.migrate``): bring the history's
database schema to the newest revision, or to ``--revision`` (older: downgrade)."""

from __future__ import annotations

import argparse
import asyncio

from services.history.config import HistorySettings
from services.history.store.database import create_engine, downgrade, migrate


async def run_migrations(
    settings: HistorySettings, revision: str = "head", *, down: bool = False
) -> None:
    engine = create_engine(settings.database_url)
    try:
        await (downgrade(engine, revision) if down else migrate(engine, revision))
    finally:
        await engine.dispose()


def run(revision: str = "head", *, down: bool = False) -> int:
    asyncio.run(run_migrations(HistorySettings(), revision, down=down))
    print(f"history schema {'downgraded' if down else 'migrated'} to {revision}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.history.migrate")
    parser.add_argument("--revision", default="head", help="target revision (default: newest)")
    parser.add_argument("--down", action="store_true", help="downgrade to --revision")
    args = parser.parse_args(argv)
    return run(args.revision, down=args.down)


if __name__ == "__main__":
    raise SystemExit(main())
