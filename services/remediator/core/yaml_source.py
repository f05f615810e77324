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
    """The document, or :class:`RulesFileError` naming the line: also for aliases (``*name``:
    a few hundred bytes of them nest into billions of values, or into a value that contains
    itself) and for a key given twice in one mapping (YAML keeps the last one silently: a rule
    reading ``approval: required`` above ``approval: auto`` would load as ``auto``)."""
    try:
        _refuse_aliases(text, source)
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
    twice: list[FileProblem] = []
    if node is not None:
        _walk(node, (), lines, twice)
    if twice:
        raise RulesFileError(source, twice)
    return YamlDocument(text, data, lines)


def _refuse_aliases(text: str, source: Path | str) -> None:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            reason = f"aliases (*{event.anchor}) are not accepted: write the value out"
            raise RulesFileError(source, [FileProblem(line, "", reason)])


def _walk(
    node: yaml.Node, loc: Location, lines: dict[Location, int], twice: list[FileProblem]
) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key, value in node.value:
            child = (*loc, key.value)
            line = key.start_mark.line + 1
            if isinstance(key.value, str) and key.value in seen:
                where = dotted(child)
                first = seen[key.value]
                twice.append(FileProblem(line, where, f"given twice (also on line {first})"))
            elif isinstance(key.value, str):
                seen[key.value] = line
            lines[child] = line
            _walk(value, child, lines, twice)
            lines[child] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines, twice)


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
