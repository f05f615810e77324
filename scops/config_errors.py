"""A configuration a process refuses to start with, said in one line.

pydantic's own message spans several lines, ends with a link, and repeats the input, which for a
settings model includes every secret; an operator needs the variable and the reason, nothing
else, and no traceback.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import SettingsError

VALUE_ERROR_PREFIX = "Value error, "


def _where(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return ""
    head, *rest = loc
    text = f"SCOPS_{str(head).upper()}"
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text + ": "


def describe(exc: BaseException) -> str | None:
    """One line naming each refused setting and why (never its value); None for an exception
    that is not about the configuration."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            message = str(error["msg"]).removeprefix(VALUE_ERROR_PREFIX)
            problems.append(_where(tuple(error["loc"])) + message)
        return " ".join(f"invalid configuration ({exc.title}): {'; '.join(problems)}".split())
    if isinstance(exc, SettingsError):
        return f"invalid configuration: {' '.join(str(exc).split())}"
    return None
