"""A request body whose fields come in alternatives (``value`` or ``points``; ``ends_at`` or
``duration``), documented as such: a model validator refuses both and neither, and the JSON
schema says the same with ``oneOf``, so the document describes exactly what is accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SchemaEdit = Callable[[dict[str, Any]], None]


def exactly_one_of(*alternatives: tuple[str, ...], then: SchemaEdit | None = None) -> SchemaEdit:
    """A ``json_schema_extra`` stating that exactly one alternative is given: all of its fields
    present and not null. ``then``: another edit of the schema (examples)."""

    def edit(schema: dict[str, Any]) -> None:
        schema["oneOf"] = [
            {
                "required": list(fields),
                "properties": {name: {"not": {"type": "null"}} for name in fields},
            }
            for fields in alternatives
        ]
        if then is not None:
            then(schema)

    return edit
