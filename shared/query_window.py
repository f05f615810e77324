"""The ``since`` / ``until`` window of the list routes, checked one way everywhere."""

from __future__ import annotations

from datetime import datetime

from fastapi.exceptions import RequestValidationError

#: What the documents say of ``until``.
NOT_BEFORE_SINCE = "Not before `since` (a 422 otherwise)."


def refuse_inverted_window(since: datetime | None, until: datetime | None) -> None:
    """A window that ends before it starts is a mistake in the query: a 422 naming ``until``
    (as any refused field is), rather than a page that is empty for no reason given."""
    if since is not None and until is not None and until < since:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "until"),
                    "msg": "must not be before `since`",
                    "type": "value_error",
                }
            ]
        )
