"""Which secret settings a service may start with (pure: no I/O, no environment reading).

Two kinds of secret settings:

- a **verifier** (a field annotated with :data:`VERIFIER`): a value this service checks other
  parties' requests against (``SCOPS_INTERNAL_TOKEN``, ``SCOPS_SLACK_SIGNING_SECRET``). An empty
  one would let an empty header or an empty-key signature through, so it is never accepted, and
  outside dev/test it must be at least :data:`MIN_VERIFIER_BYTES` bytes and not the placeholder.
- any other ``SecretStr``: a credential this service presents elsewhere (the ChatOps LLM key,
  AWS keys, a webhook URL). Its format is the provider's business; outside dev/test it must
  still not be empty, whitespace or the placeholder.

In dev and test the placeholder internal token is accepted only while every address the service
listens on is loopback: on any other address, whoever reaches the port knows the token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the value we refuse outside dev
LENIENT_ENVS = frozenset({"dev", "test"})
MIN_VERIFIER_BYTES = 32
GENERATE = "generate one with `openssl rand -hex 32`"
HOW_TO_SET = {
    "internal_token": GENERATE,
    "slack_signing_secret": "copy it from the Slack app's Basic Information page, or unset it",
}
OTHERWISE = "set the real value, or unset it"


class Verifier:
    """Annotation marker: ``Annotated[SecretStr, VERIFIER]`` is a secret requests are checked
    against."""

    def __repr__(self) -> str:
        return "VERIFIER"


VERIFIER = Verifier()


@dataclass(frozen=True)
class SecretSetting:
    name: str  # the field name, e.g. internal_token
    value: str | None  # None: not set (optional secrets)
    verifier: bool

    @property
    def variable(self) -> str:
        return f"SCOPS_{self.name.upper()}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_refusals(
    env: str, secrets: Iterable[SecretSetting], hosts: Mapping[str, str]
) -> list[str]:
    """One line per secret this service must not start with (empty: all acceptable).

    ``hosts`` maps each listen-address field (e.g. ``gateway_host``) to its value.
    """
    refusals: list[str] = []
    strict = env not in LENIENT_ENVS
    for secret in secrets:
        if secret.value is None:
            continue
        problem = _problem(secret, strict, env)
        if problem:
            refusals.append(
                f"{secret.variable} {problem}; {HOW_TO_SET.get(secret.name, OTHERWISE)}"
            )
        elif not strict and secret.name == "internal_token":
            refusals += _exposed_placeholder(secret, hosts)
    return refusals


def _problem(secret: SecretSetting, strict: bool, env: str) -> str | None:
    assert secret.value is not None
    value = secret.value.strip()
    if not value and (strict or secret.verifier):
        return "is empty" if not secret.value else "is only whitespace"
    if not strict:
        return None
    if PLACEHOLDER_SECRET in value:
        return f"is the placeholder {PLACEHOLDER_SECRET!r}, refused when SCOPS_ENV={env}"
    size = len(value.encode())
    if secret.verifier and size < MIN_VERIFIER_BYTES:
        return (
            f"is {size} bytes, shorter than the {MIN_VERIFIER_BYTES} required when SCOPS_ENV={env}"
        )
    return None


def _exposed_placeholder(secret: SecretSetting, hosts: Mapping[str, str]) -> list[str]:
    if secret.value is None or secret.value.strip() != PLACEHOLDER_SECRET:
        return []
    return [
        f"{secret.variable} is the placeholder {PLACEHOLDER_SECRET!r} while "
        f"SCOPS_{name.upper()}={host} is not a loopback address; set a real token "
        f"({GENERATE}) or listen on 127.0.0.1"
        for name, host in sorted(hosts.items())
        if not is_loopback(host)
    ]
