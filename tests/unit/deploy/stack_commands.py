"""What the deployment files may ask of the project: the `scops` commands, the settings, the
ports and the health paths. Docker and a cluster cannot run here, so the compose file and the
Kubernetes manifests are checked against these."""

from __future__ import annotations

from scops.config_table import rows
from scops.processes import ALL_SERVICES as HTTP_SERVICES
from shared.web import health_router

SETTINGS = frozenset(name for name, *_ in rows())
HEALTH_PATHS = frozenset(route.path for route in health_router("any", {}).routes)  # type: ignore[attr-defined]


def default_port(service: str) -> int:
    fields = HTTP_SERVICES[service].settings_class.model_fields
    port = fields[f"{service}_port"].default
    assert isinstance(port, int)
    return port


def command_error(args: list[str]) -> str | None:
    """Why ``args`` (after the image's ``scops`` entry point) is not a command the stack runs,
    or None. The same two commands as `make up`: ``serve NAME`` and ``worker``."""
    if len(args) == 2 and args[0] == "serve":
        return None if args[1] in HTTP_SERVICES else f"no service {args[1]!r}"
    if args[:1] == ["worker"]:
        rest = args[1:]
        if not rest:
            return None
        if len(rest) == 2 and rest[0] == "--concurrency" and rest[1].isdigit():
            return None
        return f"scops worker takes only --concurrency N, not {rest}"
    return f"not a stack command: {args}"
