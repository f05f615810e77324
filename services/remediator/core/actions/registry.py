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


def build_registry(catalogue: ScriptCatalogue) -> ActionRegistry:
    definitions = (
        restart_service.definition(catalogue),
        cleanup_disk.definition(catalogue),
        scale_out.ACTION,
        scale_in.ACTION,
        enhance_monitoring.ACTION,
        optimize_performance.definition(catalogue),
    )
    return {d.name: d for d in definitions}
