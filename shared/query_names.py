"""A query parameter that takes one value, given twice, is refused (422 naming it); so is a
name an operation with query parameters does not take.

Starlette keeps every value of a repeated name and FastAPI reads the last one of a
single-valued parameter: ``status=blocked&status=succeeded`` silently listed only the
succeeded records, which a user reads as "nothing was blocked". A parameter declared as a
list (``severity``) takes every value; any other one, given more than once, is an error.
Likewise a misspelt filter (``stauts=blocked``) was ignored and the whole list answered: on a
documented operation that takes query parameters, a name it does not take is refused, naming
the ones it does. (Operations that take none, such as ``/health``, still ignore what a probe
or a cache-buster appends.) Applied to every route of a service (``setup_app``), through the
route's own declaration.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

# Per route: the query names it declares, and those of them that take one value.
_NAMES: dict[int, tuple[frozenset[str], frozenset[str]]] = {}


def _takes_many(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _takes_many(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_takes_many(arg) for arg in typing.get_args(annotation))
    if origin is None:
        return False
    return isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str


def _query_fields(dependant: Dependant) -> Iterator[tuple[str, Any]]:
    for field in dependant.query_params:
        yield field.alias, field.field_info.annotation
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def _names(route: APIRoute) -> tuple[frozenset[str], frozenset[str]]:
    names = _NAMES.get(id(route))
    if names is None:
        fields = list(_query_fields(route.dependant))
        declared = frozenset(name for name, _annotation in fields)
        single = frozenset(name for name, annotation in fields if not _takes_many(annotation))
        names = _NAMES[id(route)] = (declared, single)
    return names


def refuse_unknown_names(given: Iterable[str], taken: Collection[str]) -> None:
    """A 422 naming each query name of ``given`` that is not in ``taken`` (none when the
    operation takes no query parameter at all)."""
    if not taken:
        return
    unknown = sorted({name for name in given if name not in taken})
    if unknown:
        listed = ", ".join(f"`{name}`" for name in sorted(taken))
        raise RequestValidationError(
            [
                {
                    "type": "unknown",
                    "loc": ("query", name),
                    "msg": f"not a parameter of this operation, which takes {listed}",
                    "input": name,
                }
                for name in unknown
            ]
        )


async def check_query_names(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared, single = _names(route)
    if route.include_in_schema:  # the console's pages read their own query
        refuse_unknown_names(request.query_params.keys(), declared)
    seen: set[str] = set()
    repeated: list[str] = []
    for name, _value in request.query_params.multi_items():
        if name in single and name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise RequestValidationError(
            [
                {
                    "type": "repeated",
                    "loc": ("query", name),
                    "msg": "given more than once; it takes one value",
                    "input": request.query_params.getlist(name),
                }
                for name in repeated
            ]
        )
