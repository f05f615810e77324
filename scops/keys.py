"""``scops keys``: create, list and revoke the gateway's API keys."""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from services.gateway.api_keys import KeyNameError, KeyStore, Role
from shared.settings import BaseServiceSettings


async def create_key(redis_url: str, name: str, role: Role, owner: str | None = None) -> str:
    redis = Redis.from_url(redis_url)
    try:
        _key, token = await KeyStore(redis).create(name, role, owner)
        return token
    finally:
        await redis.aclose()


def run(
    command: str,
    name: str | None,
    role: str | None,
    key_id: str | None,
    owner: str | None = None,
) -> int:
    url = BaseServiceSettings().redis_url

    async def go() -> int:
        redis = Redis.from_url(url)
        store = KeyStore(redis)
        try:
            if command == "create":
                assert name is not None and role is not None
                try:
                    key, token = await store.create(name, Role(role), owner)
                except KeyNameError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return 2
                print(
                    f"created key {key.key_id} ({key.role}) for {key.name}, "
                    f"owned by {key.person_owner}"
                )
                print(f"\n  {token}\n\nShown once: store it now. Send it as X-API-Key.")
            elif command == "list":
                for key in await store.all():
                    state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
                    print(
                        f"{key.key_id}  {key.role:<8}  {key.name:<24}  "
                        f"{key.person_owner:<16}  {key.created_at}  {state}"
                    )
            else:
                assert key_id is not None
                revoked = await store.revoke(key_id)
                if revoked is None:
                    print(f"no key {key_id}")
                    return 1
                print(f"revoked {key_id} ({revoked.name})")
            return 0
        finally:
            await redis.aclose()

    return asyncio.run(go())
