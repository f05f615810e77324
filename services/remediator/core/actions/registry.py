"""Every action by name. Built once, with the script catalogue (its scripts and its allow
lists of parameters), in the composition root."""

from __future__ import annotations

from services.remediator.core.actions import (
    cleanup_disk,
    enhance_monitoring,
    optimize_performance,
    restart_service,
    scale_in,
    scale_out,
)
from services.remediator.core.actions.base import ActionDefinition
from services.remediator.core.actions.catalogue import ScriptCatalogue

ActionRegistry = dict[str, ActionDefinition]
#: The names of the registered actions (what :func:`build_registry` builds, whatever the
#: catalogue), for the API documents: a manual request naming another action is refused.
ACTION_NAMES = (
    "cleanup_disk",
    "enhance_monitoring",
    "optimize_performance",
    "restart_service",
    "scale_in",
    "scale_out",
)


def build_registry(catalogue: ScriptCatalogue) -> ActionRegistry:
    definitions = (
        restart_service.definition(catalogue),
        cleanup_disk.definition(catalogue),
        scale_out.ACTION,
        scale_in.ACTION,
        enhance_monitoring.ACTION,
        optimize_performance.definition(catalogue),
    )
    registry = {d.name: d for d in definitions}
    assert sorted(registry) == list(ACTION_NAMES), "ACTION_NAMES lists every registered action"
    return registry
