"""Dependencies of the routes: the notifier's parts, and the internal token that mutating
endpoints require (:func:`shared.web.require_internal_token`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.notifier.wiring import Notifier
from shared.web import require_internal_token


def get_notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


NotifierDep = Annotated[Notifier, Depends(get_notifier)]
INTERNAL = [Depends(require_internal_token)]
