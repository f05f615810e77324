"""Dependencies of the routes: the history's parts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.history.store.reader import HistoryReader
from services.history.wiring import History


def get_history(request: Request) -> History:
    history: History = request.app.state.history
    return history


def get_reader(request: Request) -> HistoryReader:
    return get_history(request).reader


HistoryDep = Annotated[History, Depends(get_history)]
ReaderDep = Annotated[HistoryReader, Depends(get_reader)]
