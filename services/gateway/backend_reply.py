"""What a service behind the gateway answered to a call the gateway made for someone (ChatOps,
the console): status and parsed body, whatever the status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BackendReply:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def problem_detail(self) -> str:
        """What a problem document says (RFC 9457 ``detail``, else ``title``), or the status."""
        if isinstance(self.body, dict):
            for name in ("detail", "title"):
                value = self.body.get(name)
                if isinstance(value, str) and value:
                    return value
        return f"HTTP {self.status}"

    def field(self, name: str) -> str | None:
        value = self.body.get(name) if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else None
