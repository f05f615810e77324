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
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum

from redis.asyncio import Redis

from shared.streams import PREFIX

KEYS_HASH = f"{PREFIX}:{{gateway}}:api-keys"

# The key's record, and its request counted when the presented secret's digest, the key's
# standing and its role all admit it: one round trip for what took two (the record, then the
# count). A request that is refused is never counted, so nobody can spend a key's budget with
# its id and a wrong secret. The caller still checks the record itself (in constant time).
# KEYS: the keys hash, the key's counter of this minute. ARGV: key id, SHA-256 of the presented
# secret, the counter's lifetime in seconds, then every role that may make the request.
_VERIFY_AND_COUNT = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return {false, 0} end
local ok, key = pcall(cjson.decode, record)
if not ok or type(key) ~= 'table' or key.secret_sha256 ~= ARGV[2] then return {record, 0} end
if key.revoked_at ~= nil and key.revoked_at ~= cjson.null then return {record, 0} end
for i = 4, #ARGV do
  if key.role == ARGV[i] then
    local count = redis.call('INCR', KEYS[2])
    redis.call('EXPIRE', KEYS[2], ARGV[3])
    return {record, count}
  end
end
return {record, 0}
"""


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


def key_of(role: Role | str) -> str:
    """``an operator key``, ``a viewer key``: a role's key in a sentence."""
    return f"{'an' if str(role)[:1] in 'aeiou' else 'a'} {role} key"


def roles_allowed(needed: Role) -> list[str]:
    """Every role whose keys may do what needs ``needed``."""
    return sorted(role.value for role, grants in GRANTS.items() if needed in grants)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != "scops" or not key_id or not secret:
        return None
    return key_id, secret


class KeyNameError(ValueError):
    """A key's name or owner that cannot be stored and shown as given."""


class KeyStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._verify_and_count = redis.register_script(_VERIFY_AND_COUNT)

    async def create(self, name: str, role: Role, owner: str | None = None) -> tuple[ApiKey, str]:
        """A new key and its token (shown to the caller once, never stored). ``owner``: the
        person it belongs to, so two keys of one person approve once (default: ``name``)."""
        name = name.strip()
        owner = (owner or "").strip() or name
        if not name:
            raise KeyNameError("a key needs a name (--name), e.g. ci or the person it is for")
        for what, value in (("name", name), ("owner", owner)):
            if any(unicodedata.category(c) == "Cc" for c in value):
                raise KeyNameError(
                    f"a key's {what} is shown in one line, in lists and audit records: no line "
                    f"breaks or other control characters ({value!r})"
                )
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "-")
        key = ApiKey(
            key_id, name, role, _digest(secret), datetime.now(UTC).isoformat(), owner=owner
        )
        await self.redis.hset(KEYS_HASH, key_id, json.dumps(asdict(key)))
        return key, f"scops_{key_id}_{secret}"

    async def get(self, key_id: str) -> ApiKey | None:
        return _record(await self.redis.hget(KEYS_HASH, key_id))

    async def verify(self, token: str) -> ApiKey | None:
        parsed = parse(token)
        if parsed is None:
            return None
        return _checked(await self.get(parsed[0]), _digest(parsed[1]))

    async def verify_and_count(
        self, token: str, needed: Role, counter_of: Callable[[str], str], counter_ttl_s: int
    ) -> tuple[ApiKey | None, int]:
        """The key ``token`` presents (None: no such key, revoked or a wrong secret) and, if
        it may do what needs ``needed``, its request counted on ``counter_of(key_id)``: the
        count so far (0: not counted, the key may not do this)."""
        parsed = parse(token)
        if parsed is None:
            return None, 0
        key_id, secret = parsed
        digest = _digest(secret)
        raw, count = await self._verify_and_count(
            keys=[KEYS_HASH, counter_of(key_id)],
            args=[key_id, digest, counter_ttl_s, *roles_allowed(needed)],
        )
        return _checked(_record(raw), digest), int(count)

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


def _record(raw: bytes | str | None) -> ApiKey | None:
    if raw is None:
        return None
    data = json.loads(raw)
    data["role"] = Role(data["role"])
    return ApiKey(**data)


def _checked(key: ApiKey | None, digest: str) -> ApiKey | None:
    """``key`` if it stands and ``digest`` is its secret's (compared in constant time)."""
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_sha256, digest):
        return None
    return key
