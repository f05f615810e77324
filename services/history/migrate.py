"""``scops history migrate`` (or ``python -m services.history.migrate``): bring the history's
database schema to the newest revision, or to ``--revision`` (older: downgrade)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from alembic.script.revision import RevisionError
from alembic.util import CommandError

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


def run(revision: str | None = None, *, down: bool = False) -> int:
    """Exit status 2 for a downgrade with no target, 1 for a revision Alembic does not know
    (one line on stderr each, no traceback)."""
    if down and revision is None:
        print(
            "history migrate: --down needs --revision (the revision to go down to, "
            "e.g. --revision base to remove the schema)",
            file=sys.stderr,
        )
        return 2
    target = revision or "head"
    try:
        asyncio.run(run_migrations(HistorySettings(), target, down=down))
    except (CommandError, RevisionError) as exc:
        print(f"history migrate: {exc}", file=sys.stderr)
        return 1
    print(f"history schema {'downgraded' if down else 'migrated'} to {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.history.migrate")
    parser.add_argument("--revision", help="target revision (default: newest)")
    parser.add_argument("--down", action="store_true", help="downgrade to --revision (needed)")
    args = parser.parse_args(argv)
    return run(args.revision, down=args.down)


if __name__ == "__main__":
    raise SystemExit(main())
