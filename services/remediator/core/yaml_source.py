"""YAML with line numbers, so that a validation error names the line it is about."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.remediator.errors import FileProblem, RulesFileError

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    text: str
    data: Any
    lines: dict[Location, int]  # the line of every mapping key and sequence item


def read_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(path, [FileProblem(None, "", f"cannot read: {exc.strerror}")]) from exc
    return parse_yaml(text, path)


def parse_yaml(text: str, source: Path | str) -> YamlDocument:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise RulesFileError(
            source, [FileProblem(line, "", f"not valid YAML: {exc.problem}")]
        ) from exc
    except yaml.YAMLError as exc:
        raise RulesFileError(source, [FileProblem(None, "", f"not valid YAML: {exc}")]) from exc
    lines: dict[Location, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return YamlDocument(text, data, lines)


def _walk(node: yaml.Node, loc: Location, lines: dict[Location, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, key.value)
            lines[child] = key.start_mark.line + 1
            _walk(value, child, lines)
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines)


def line_of(loc: Sequence[str | int], lines: dict[Location, int]) -> int | None:
    """The line of ``loc`` or of its nearest ancestor present in the file."""
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def dotted(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def problems_from(
    exc: ValidationError, lines: dict[Location, int], prefix: Location = ()
) -> list[FileProblem]:
    problems = []
    for err in exc.errors():
        loc = (*prefix, *(p for p in err["loc"] if not _is_union_tag(p)))
        reason = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown field (check its spelling)"
        problems.append(FileProblem(line_of(loc, lines), dotted(loc), reason))
    return problems


def _is_union_tag(part: object) -> bool:
    # pydantic puts the chosen union member's type name in a location, e.g. "function-after[...]"
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float"))
