"""The gateway keeps what lives as long as it does out of the cyclic garbage collector's sight,
the ChatOps classifier's libraries included: a full collection walks every object in sight and
holds every ingest request meanwhile (50-60 ms each time, seen as the gateway's p99, when
scikit-learn, NumPy and SciPy were left in sight after the classifier trained)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import asyncio, gc, sys
    from services.gateway.app import create_app
    from services.gateway.config import GatewaySettings

    async def main() -> None:
        app = create_app(GatewaySettings(redis_url=sys.argv[1], chatops_warm_start=True))
        async with app.router.lifespan_context(app):
            assert await app.state.gateway.chat_classifier.understanding() is not None
            await asyncio.sleep(0.1)
            print("in sight", len(gc.get_objects(2)))

    asyncio.run(main())
    """
)


def test_a_trained_classifier_leaves_little_for_a_full_collection_to_walk(redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, redis_url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("in sight"))
    # Tens of thousands when the classifier's imports stayed in sight; a handful once frozen.
    assert int(line.split()[-1]) < 5_000, line
