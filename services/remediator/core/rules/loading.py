"""Loading a rules file: YAML, the schema, then every action name, parameter set and target
checked against the registry. Any problem refuses the whole file, naming the line and path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from services.remediator.core.actions.base import UNFILLED_PARAMS
from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.rules.schema import ActionStep, RuleSet
from services.remediator.core.targets import check_param_templates
from services.remediator.core.yaml_source import (
    Location,
    YamlDocument,
    dotted,
    line_of,
    parse_yaml,
    problems_from,
    read_yaml,
)
from services.remediator.errors import FileProblem, RulesFileError
from shared.events import utcnow


@dataclass(frozen=True)
class LoadedRules:
    rules: RuleSet
    version: str
    source: str
    text: str
    loaded_at: datetime = field(default_factory=utcnow)


def rules_version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_rules_file(path: Path, registry: ActionRegistry) -> LoadedRules:
    return _validate(read_yaml(path), str(path), registry)


def load_rules_text(text: str, source: str, registry: ActionRegistry) -> LoadedRules:
    return _validate(parse_yaml(text, source), source, registry)


def _validate(document: YamlDocument, source: str, registry: ActionRegistry) -> LoadedRules:
    text, data, lines = document.text, document.data, document.lines
    if data is None:
        raise RulesFileError(source, [FileProblem(None, "", "the file is empty")])
    try:
        rules = RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesFileError(source, problems_from(exc, lines)) from exc
    problems: list[FileProblem] = []
    for i, rule in enumerate(rules.rules):
        for j, step in enumerate(rule.actions):
            problems += _step_problems(step, ("rules", i, "actions", j), lines, registry)
    if problems:
        raise RulesFileError(source, problems)
    return LoadedRules(rules, rules_version(text), source, text)


def _step_problems(
    step: ActionStep, loc: Location, lines: dict[Location, int], registry: ActionRegistry
) -> list[FileProblem]:
    definition = registry.get(step.action)
    if definition is None:
        where = (*loc, "action")
        known = ", ".join(sorted(registry))
        reason = f"unknown action {step.action!r} (known: {known})"
        return [FileProblem(line_of(where, lines), dotted(where), reason)]
    problems = []
    try:
        definition.parse(check_param_templates(step.params), {UNFILLED_PARAMS: step.params})
    except ValidationError as exc:
        problems += problems_from(exc, lines, (*loc, "params"))
    except ValueError as exc:
        where = (*loc, "params")
        problems.append(FileProblem(line_of(where, lines), dotted(where), str(exc)))
    kind = "auto_scaling_group" if step.target.auto_scaling_group else "instances"
    if step.target.tags:
        kind = "tags"
    if kind not in definition.targets and not (
        kind == "instances" and "tags" in definition.targets
    ):
        where = (*loc, "target")
        accepted = " or ".join(sorted(definition.targets))
        reason = f"{step.action} acts on {accepted}, not on {kind.replace('_', ' ')}"
        if kind == "instances" and "auto_scaling_group" in definition.targets:
            reason += " (give target: {auto_scaling_group: ...})"
        problems.append(FileProblem(line_of(where, lines), dotted(where), reason))
    return problems
