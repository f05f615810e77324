"""Where the history lives: the setting takes the URLs people write, and refuses the rest
without showing them (they may hold a password)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.history.config import HistorySettings


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:pw@db:5432/scops", "postgresql+asyncpg://u:pw@db:5432/scops"),
        ("postgres://u:pw@db/scops", "postgresql+asyncpg://u:pw@db/scops"),
        ("postgresql+asyncpg://u@db/scops", "postgresql+asyncpg://u@db/scops"),
        ("sqlite:///var/history.db", "sqlite+aiosqlite:///var/history.db"),
    ],
)
def test_database_urls_as_people_write_them_use_the_async_drivers(given: str, used: str) -> None:
    settings = HistorySettings(_env_file=None, history_database_url=given)
    assert settings.database_url == used


@pytest.mark.parametrize("given", ["mysql://u:secret-pw@db/x", "not a url", ""])
def test_other_databases_are_refused_without_echoing_the_url(given: str) -> None:
    with pytest.raises(ValidationError) as refused:
        HistorySettings(_env_file=None, history_database_url=given)
    assert "secret-pw" not in str(refused.value)
    assert "postgresql+asyncpg" in str(refused.value)
