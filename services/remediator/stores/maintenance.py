"""Maintenance windows: time ranges during which matching targets are never acted on.

Stored in one Redis hash that the safety script reads, so the check happens in the same atomic
step as the others. The script matches each window's glob as deny lists do (``?`` is one
character, not one byte); a Lua translation is stored with it for scripts that predate that.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import redis
from pydantic import BaseModel, ConfigDict, Field

from services.remediator.core.safety_policy import glob_to_lua
from services.remediator.errors import MaintenanceWindowNotFoundError
from services.remediator.stores import redis_keys
from shared.events import UtcDatetime, utcnow


class MaintenanceWindow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    target_pattern: str = Field(examples=["web-*"])
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    reason: str = ""
    created_by: str
    created_at: UtcDatetime

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


class MaintenanceWindows:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def add(
        self,
        target_pattern: str,
        starts_at: datetime,
        ends_at: datetime,
        *,
        reason: str,
        created_by: str,
    ) -> MaintenanceWindow:
        if ends_at <= starts_at:
            raise ValueError("ends_at must be after starts_at")
        lua = glob_to_lua(target_pattern)
        window = MaintenanceWindow(
            id=f"mw-{uuid.uuid4().hex[:12]}",
            target_pattern=target_pattern,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=created_by,
            created_at=utcnow(),
        )
        stored = window.model_dump(mode="json") | {
            "lua": lua,
            "start_ms": int(window.starts_at.timestamp() * 1000),
            "end_ms": int(window.ends_at.timestamp() * 1000),
        }
        self.redis.hset(redis_keys.MAINTENANCE, window.id, json.dumps(stored))
        return window

    def remove(self, window_id: str) -> MaintenanceWindow:
        raw = self.redis.hget(redis_keys.MAINTENANCE, window_id)
        if raw is None or not self.redis.hdel(redis_keys.MAINTENANCE, window_id):
            raise MaintenanceWindowNotFoundError(window_id)
        return MaintenanceWindow.model_validate_json(raw)

    def current(self, *, include_past: bool = False) -> list[MaintenanceWindow]:
        now = utcnow()
        windows = [
            MaintenanceWindow.model_validate_json(raw)
            for raw in self.redis.hgetall(redis_keys.MAINTENANCE).values()
        ]
        if not include_past:
            windows = [w for w in windows if w.ends_at > now]
        return sorted(windows, key=lambda w: (w.starts_at, w.id))

    def purge_past(self) -> int:
        """Drops windows that ended; the safety script ignores them anyway."""
        now = utcnow()
        past = [
            field
            for field, raw in self.redis.hgetall(redis_keys.MAINTENANCE).items()
            if MaintenanceWindow.model_validate_json(raw).ends_at <= now
        ]
        return int(self.redis.hdel(redis_keys.MAINTENANCE, *past)) if past else 0
