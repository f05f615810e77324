"""A local AWS API (moto in server mode) on loopback, reached over HTTP by the real aioboto3
client exactly as AWS would be."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from moto.server import ThreadedMotoServer

from scops.local_redis import free_port

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start a server on a free port; yields its URL. Every in-process moto server shares one
    set of AWS resources, so each starts (and leaves) it empty: what one test created (a
    webhook parameter pointing at its own stand-in) must not reach the next."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        yield reset(url)
    finally:
        reset(url)
        server.stop()


def reset(url: str) -> str:
    """Forget every resource the server holds (between tests)."""
    httpx.post(f"{url}/moto-api/reset").raise_for_status()
    return url
