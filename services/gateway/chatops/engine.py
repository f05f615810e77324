"""The one execution path of ChatOps: understand, check the asker's role, ask the service that
owns the answer, and word it. The HTTP API and Slack both come through here.

A message is understood by the deterministic parser first; only what it does not understand
goes to the optional LLM, whose output is the same :class:`ChatIntent`. Unless
``llm_may_act``, an action the LLM understood is not run: the answer gives the exact command
to send, which the deterministic parser then reads. Either way, every action passes the same
role check here and the same safety checks in the remediator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import structlog

from services.gateway.chatops import answers
from services.gateway.chatops.backend_calls import BackendCaller, BackendUnavailableError
from services.gateway.chatops.intents import ChatIntent, IntentName
from services.gateway.chatops.operations import AnomalySource, Operations
from services.gateway.chatops.parser import NotUnderstood, parse
from services.gateway.chatops.replies import Answer, Asker, Outcome, Reply
from services.gateway.keys import GRANTS, Role
from services.gateway.proxy import Backends

log = structlog.get_logger("gateway.chatops")

NEEDED_ROLE: dict[IntentName, Role] = {
    IntentName.RUN_ACTION: Role.OPERATOR,
    IntentName.APPROVE: Role.OPERATOR,
    IntentName.REJECT: Role.OPERATOR,
    IntentName.SILENCE: Role.OPERATOR,
}
QUICK = frozenset({IntentName.HELP})


class IntentInterpreter(Protocol):
    async def interpret(self, text: str) -> ChatIntent | None: ...


class ChatEngine:
    def __init__(
        self,
        backends: Backends,
        index: AnomalySource,
        *,
        llm: IntentInterpreter | None = None,
        llm_may_act: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backends = backends
        self.index = index
        self.llm = llm
        self.llm_may_act = llm_may_act
        self.clock = clock

    def quick_reply(self, asker: Asker, text: str) -> Reply | None:
        """The reply when it needs no I/O at all (help, a refusal by role, or not understood
        with no LLM to ask), else None."""
        parsed = parse(text)
        if isinstance(parsed, NotUnderstood):
            return None if self.llm is not None else Reply(None, None, not_understood(parsed))
        refusal = role_refusal(asker, parsed)
        if refusal is not None:
            return Reply(parsed, "parser", refusal)
        if parsed.intent in QUICK:
            return Reply(parsed, "parser", Answer(Outcome.ANSWERED, answers.HELP))
        return None

    async def reply(self, asker: Asker, text: str, correlation_id: str) -> Reply:
        parsed = parse(text)
        if isinstance(parsed, NotUnderstood) and self.llm is not None:
            interpreted = await self.llm.interpret(text)
            if interpreted is not None:
                log.info("chatops_llm_understood", intent=interpreted.intent.value)
                return Reply(
                    interpreted,
                    "llm",
                    await self._llm_answer(asker, interpreted, text, correlation_id),
                )
        if isinstance(parsed, NotUnderstood):
            return Reply(None, None, not_understood(parsed))
        return Reply(parsed, "parser", await self.answer(asker, parsed, text, correlation_id))

    async def _llm_answer(
        self, asker: Asker, intent: ChatIntent, text: str, correlation_id: str
    ) -> Answer:
        command = intent.as_command()
        if intent.intent.changes_something and not self.llm_may_act:
            return Answer(
                Outcome.CONFIRM,
                f"I understood: `{command}`. Nothing was done: to do it, send exactly that.",
                {"command": command},
            )
        answer = await self.answer(asker, intent, text, correlation_id)
        return Answer(
            answer.outcome,
            f"(understood as `{command}`)\n{answer.text}",
            {**answer.data, "command": command},
        )

    async def answer(
        self, asker: Asker, intent: ChatIntent, text: str, correlation_id: str
    ) -> Answer:
        refusal = role_refusal(asker, intent)
        if refusal is not None:
            return refusal
        ops = Operations(BackendCaller(self.backends, correlation_id), self.index, self.clock)
        try:
            return await self._dispatch(ops, asker, intent, text)
        except BackendUnavailableError as exc:
            return Answer(
                Outcome.UNAVAILABLE,
                f"I cannot answer that now: {exc.detail}. Nothing was done.",
                {"service": exc.service},
            )

    async def _dispatch(
        self, ops: Operations, asker: Asker, intent: ChatIntent, text: str
    ) -> Answer:
        e = intent.entities
        match intent.intent:
            case IntentName.STATUS:
                return await ops.status()
            case IntentName.RESOURCE_HEALTH:
                return await ops.resource_health(e)
            case IntentName.RECENT_ANOMALIES:
                return await ops.recent_anomalies(e)
            case IntentName.ACTION_HISTORY:
                return await ops.action_history(e)
            case IntentName.RUN_ACTION:
                return await ops.run_action(e, asker.who, text)
            case IntentName.APPROVE | IntentName.REJECT:
                return await ops.decide(intent.intent, e, asker.who)
            case IntentName.SILENCE:
                return await ops.silence(e, asker.who)
            case _:
                return Answer(Outcome.ANSWERED, answers.HELP)


def role_refusal(asker: Asker, intent: ChatIntent) -> Answer | None:
    needed = NEEDED_ROLE.get(intent.intent, Role.VIEWER)
    if needed in GRANTS[asker.role]:
        return None
    return Answer(
        Outcome.REFUSED,
        f"You are a {asker.role}: `{intent.as_command()}` needs the {needed} role. "
        "Nothing was done.",
        {"needed_role": needed.value, "role": asker.role.value},
    )


def not_understood(result: NotUnderstood) -> Answer:
    hint = f" {result.hint[0].upper()}{result.hint[1:]}." if result.hint else ""
    return Answer(
        Outcome.NOT_UNDERSTOOD,
        f"I did not understand.{hint} Say `help` for what I understand.",
    )
