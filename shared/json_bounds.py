"""What JSON from outside may hold: finite numbers only, and at most ``MAX_DEPTH`` levels of
nesting (no I/O, no web framework).

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e400`` as floats that no JSON encoder
will write back (a forwarded body then fails half-way), and a body nested a hundred thousand
levels deep exhausts the interpreter's recursion on whoever walks it next. Both are refused
here, with the place that holds them, before anything else reads the value.

JsonBoundsError     a value outside these bounds (``where`` names it: ``value``,
                    ``samples[0].value``, or ``body`` for the document itself)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64


class JsonBoundsError(ValueError):
    def __init__(self, where: str, pointer: str, reason: str) -> None:
        self.where = where
        self.pointer = pointer
        self.reason = reason
        super().__init__(f"{where}: {reason}")

    def located(self, root: str) -> str:
        """Where, for a document found under ``root`` (``payload``, ``payload.actions[0]``)."""
        if self.where == "body":
            return root
        return root + self.where if self.where.startswith("[") else f"{root}.{self.where}"


def _not_finite(number: float) -> str:
    if math.isnan(number):
        return "NaN is not a number"
    return f"{'Infinity' if number > 0 else '-Infinity'} (or a number too large) is not finite"


# JSON may spell half of a UTF-16 pair (``"\\ud800"``) alone: such a string is no text, and no
# UTF-8 encoder (the one that forwards it, Redis' client) can write it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(text: str) -> str | None:
    found = _LONE_SURROGATE.search(text)
    if found is None:
        return None
    return f"contains a lone surrogate U+{ord(found.group()):04X} at position {found.start()}"


def check_bounds(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raises :class:`JsonBoundsError` at the first non-finite number, the first string (or
    key) holding a lone surrogate, or the first container nested deeper than ``max_depth``
    (the document itself is level 1)."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise _error(path, _not_finite(item))
        if isinstance(item, str) and (why := _lone_surrogate(item)):
            raise _error(path, why)
        if isinstance(item, dict | list):
            if len(path) >= max_depth:
                raise _error(path, f"nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key in item:
                    if why := _lone_surrogate(key):  # named by where it is, not by itself
                        raise _error(path, f"a member's name {why}")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            pending.extend((child, (*path, key)) for key, child in reversed(list(children)))


def loads_bounded(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for text from outside: :class:`JsonBoundsError` for what
    :func:`check_bounds` refuses, ``ValueError`` for what is not JSON."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _error((), f"nested deeper than {max_depth} levels") from None
    check_bounds(value, max_depth=max_depth)
    return value


# A member's name as a refusal repeats it: a name the caller chose (a label key, a misspelt
# member) is cut, so a refusal is never a copy of the request over again.
NAME_SHOWN_MAX = 64


def shown_name(part: int | str) -> int | str:
    """A path part as a refusal names it: a name longer than ``NAME_SHOWN_MAX`` cut."""
    if isinstance(part, str) and len(part) > NAME_SHOWN_MAX:
        return part[: NAME_SHOWN_MAX - 1] + "…"
    return part


def _error(path: tuple[str | int, ...], reason: str) -> JsonBoundsError:
    path = tuple(shown_name(p) for p in path)
    where = ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    pointer = "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)
    return JsonBoundsError(where or "body", pointer, reason)
