"""Schemathesis hooks for fuzzing the services' APIs: loaded by ``schemathesis.toml``
(``hooks``), so ``schemathesis run`` (from the repository, or anywhere with this project
installed) and the conformance test send the same bodies. Imports nothing of the project."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.serializer("application/x-protobuf")
def protobuf(_context: Any, value: Any) -> bytes:
    """Prometheus remote write bodies (snappy-compressed protobuf): sent as generated, so the
    receiver meets bytes that are no snappy frame, no protobuf, or both, as on the wire."""
    return value if isinstance(value, bytes) else str(value).encode()
