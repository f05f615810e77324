"""API keys: created once, shown once, stored only as a hash.

A key reads ``scops_<id>_<secret>``: the id finds the record, the secret is checked against its
SHA-256 in constant time (the secret is 32 random bytes, so a plain hash is enough: nothing to
brute-force). Records live in one Redis hash, so every gateway replica sees a revocation at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum

from redis.asyncio import Redis

from shared.streams import PREFIX

KEYS_HASH = f"{PREFIX}:{{gateway}}:api-keys"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    INGEST = "ingest"


# What each role may also do: admin > operator > viewer; ingest only ingests.
GRANTS: dict[Role, frozenset[Role]] = {
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.OPERATOR: frozenset({Role.VIEWER, Role.OPERATOR, Role.INGEST}),
    Role.ADMIN: frozenset({Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.INGEST}),
    Role.INGEST: frozenset({Role.INGEST}),
}


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    secret_sha256: str
    created_at: str
    revoked_at: str | None = None
    owner: str = ""  # the person the key belongs to (approvals count people); "": its name

    @property
    def person_owner(self) -> str:
        return self.owner or self.name

    def allows(self, needed: Role) -> bool:
        return self.revoked_at is None and needed in GRANTS[self.role]

    def public(self) -> dict[str, str | None]:
        """What may be shown: everything but the hash."""
        data = asdict(self)
        del data["secret_sha256"]
        return data


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != "scops" or not key_id or not secret:
        return None
    return key_id, secret


class KeyStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(self, name: str, role: Role, owner: str | None = None) -> tuple[ApiKey, str]:
        """A new key and its token (shown to the caller once, never stored). ``owner``: the
        person it belongs to, so two keys of one person approve once (default: ``name``)."""
        owner = (owner or name).strip()
        if not owner:
            raise ValueError("a key needs an owner (or a name to stand for one)")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "-")
        key = ApiKey(
            key_id, name, role, _digest(secret), datetime.now(UTC).isoformat(), owner=owner
        )
        await self.redis.hset(KEYS_HASH, key_id, json.dumps(asdict(key)))
        return key, f"scops_{key_id}_{secret}"

    async def get(self, key_id: str) -> ApiKey | None:
        raw = await self.redis.hget(KEYS_HASH, key_id)
        if raw is None:
            return None
        data = json.loads(raw)
        data["role"] = Role(data["role"])
        return ApiKey(**data)

    async def verify(self, token: str) -> ApiKey | None:
        parsed = parse(token)
        if parsed is None:
            return None
        key = await self.get(parsed[0])
        if key is None or key.revoked_at is not None:
            return None
        if not hmac.compare_digest(key.secret_sha256, _digest(parsed[1])):
            return None
        return key

    async def revoke(self, key_id: str) -> ApiKey | None:
        key = await self.get(key_id)
        if key is None:
            return None
        revoked = ApiKey(**{**asdict(key), "revoked_at": datetime.now(UTC).isoformat()})
        await self.redis.hset(KEYS_HASH, key_id, json.dumps(asdict(revoked)))
        return revoked

    async def all(self) -> list[ApiKey]:
        rows = await self.redis.hgetall(KEYS_HASH)
        keys = []
        for raw in rows.values():
            data = json.loads(raw)
            data["role"] = Role(data["role"])
            keys.append(ApiKey(**data))
        return sorted(keys, key=lambda k: k.created_at)
