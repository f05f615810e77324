"""The optional LLM fallback: free text the deterministic parser did not understand, mapped by
an OpenAI-compatible chat completions API onto the same :class:`ChatIntent`.

The model is asked for one JSON object; its reply is validated strictly (unknown fields,
wrong types, entities an intent does not take: refused), and anything else, including an
unreachable or slow API, is "not understood". The model never acts: its intent goes through
the same engine, role checks and safety checks as a parsed one. The API key is sent as a
bearer token and appears in no log, error or answer; neither do the user's words.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import structlog
from pydantic import SecretStr, ValidationError

from services.gateway.chatops.intents import NEEDS, TAKES, ChatIntent, IntentName
from shared.json_bounds import loads_bounded

log = structlog.get_logger("gateway.chatops.llm")
MAX_INPUT = 500
MAX_OUTPUT = 4000

EXAMPLES: list[tuple[str, ChatIntent | None]] = [
    ("how are we doing overall", ChatIntent.of(IntentName.STATUS)),
    ("is something up with web-1", ChatIntent.of(IntentName.RESOURCE_HEALTH, resource="web-1")),
    (
        "show me serious problems from the last 6 hours",
        ChatIntent.of(IntentName.RECENT_ANOMALIES, window_s=21600, min_severity="high"),
    ),
    (
        "bounce the nginx thing on web-1 because it hangs",
        ChatIntent.of(
            IntentName.RUN_ACTION,
            action="restart_service",
            resource="web-1",
            service="nginx",
            reason="it hangs",
        ),
    ),
    (
        "shut up about db-2 for a couple of hours",
        ChatIntent.of(IntentName.SILENCE, resource="db-2", duration_s=7200),
    ),
    (
        "anything i asked for still waiting on sign-off?",
        ChatIntent.of(IntentName.PENDING_APPROVALS, mine=True),
    ),
    ("give me the gist of the night shift", ChatIntent.of(IntentName.SUMMARY, window_s=43200)),
    ("what's the weather like", None),
]


def system_prompt() -> str:
    intents = []
    for intent in IntentName:
        takes = ", ".join(sorted(TAKES[intent])) or "nothing"
        needs = ", ".join(sorted(NEEDS.get(intent, frozenset()))) or "nothing"
        intents.append(f"- {intent.value}: entities {takes}; required {needs}")
    examples = [
        f"{text!r} -> "
        + (intent.model_dump_json(exclude_defaults=True) if intent else '{"intent": "none"}')
        for text, intent in EXAMPLES
    ]
    schema = json.dumps(ChatIntent.model_json_schema(), separators=(",", ":"))
    return (
        "You map one operations chat message onto a command for Smart CloudOps AI. Reply "
        'with exactly one JSON object {"intent": ..., "entities": {...}} following this JSON '
        f"schema: {schema}\nIntents:\n" + "\n".join(intents) + "\n"
        "Durations and windows are whole seconds. Actions: restart_service (needs service), "
        "scale_out and scale_in (an Auto Scaling group as resource, optional count), "
        "cleanup_disk, enhance_monitoring, optimize_performance (needs script). "
        "Periods: overnight is the last 43200 s, today the last 86400 s. "
        "Resource globs (web-*) only for silence and start_maintenance. "
        'If the message asks for none of these, or is unclear, reply {"intent": "none"}. '
        "Never invent a resource, service or id the message does not name.\nExamples:\n"
        + "\n".join(examples)
    )


class LlmInterpreter:
    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: SecretStr | None,
        model: str,
        timeout_s: float,
    ) -> None:
        self.client = client
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.model = model
        self.timeout_s = timeout_s
        self.prompt = system_prompt()

    async def interpret(self, text: str) -> ChatIntent | None:
        if not text.strip() or len(text) > MAX_INPUT:
            return None
        headers = {"Content-Type": "application/json"}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": self.prompt},
                {"role": "user", "content": text},
            ],
        }
        try:
            reply = await self.client.post(
                self.url, json=body, headers=headers, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            log.warning("chatops_llm_unreachable", error=type(exc).__name__)
            return None
        if reply.status_code != 200:
            log.warning("chatops_llm_refused", status=reply.status_code)
            return None
        return read_completion(reply.content)


def read_completion(raw: bytes) -> ChatIntent | None:
    """The intent in a chat completions response, or None when there is no valid one."""
    try:
        content = loads_bounded(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        log.warning("chatops_llm_malformed_response")
        return None
    if not isinstance(content, str) or len(content) > MAX_OUTPUT:
        log.warning("chatops_llm_malformed_response")
        return None
    text = _without_fence(content.strip())
    if _says_none(text):
        return None
    try:
        return ChatIntent.model_validate_json(text)
    except ValidationError as exc:
        log.warning("chatops_llm_invalid_intent", errors=exc.error_count())
        return None


def _without_fence(text: str) -> str:
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3].strip()
        if text.startswith("json"):
            text = text[4:].strip()
    return text


def _says_none(text: str) -> bool:
    try:
        data: Any = loads_bounded(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("intent") in ("none", None)
