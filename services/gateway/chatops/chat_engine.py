"""The one execution path of ChatOps: understand, check the asker's role, ask the service that
owns the answer, and word it. The HTTP API and Slack both come through here.

A message is understood by the deterministic parser first (exact commands), then by the
embedded classifier (:mod:`.understanding`), then, if one is configured, by the optional LLM;
all three produce the same :class:`ChatIntent`, with names resolved against what the system
knows. Only an exact command naming what the system knows is run as said: an action read by
the classifier, read with a corrected name, or read by the LLM (unless ``llm_may_act``) is
proposed (``confirm``) with the exact command to send back, which the parser then reads. Not
sure what was meant: the likeliest readings are offered (``clarify``). Every action passes the
same role check here and the same safety checks in the service that carries it out.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, Protocol
from urllib.parse import quote

import structlog

from services.gateway.api_keys import GRANTS, Role
from services.gateway.chatops import answers
from services.gateway.chatops.admin_ops import AdminSwitches
from services.gateway.chatops.backend_calls import BackendCaller, BackendUnavailableError
from services.gateway.chatops.classifier_loading import ClassifierLoader
from services.gateway.chatops.conditions import condition_in
from services.gateway.chatops.extraction import Knowledge
from services.gateway.chatops.insights import Insights
from services.gateway.chatops.intents import ChatIntent, IntentName
from services.gateway.chatops.moments import (
    NoMoment,
    Since,
    no_moment_answer,
    read_since,
    with_moment,
)
from services.gateway.chatops.operations import AnomalySource, Operations
from services.gateway.chatops.parser import parse
from services.gateway.chatops.proposals import (
    clarify,
    conditional_refusal,
    corrected_note,
    elsewhere_answer,
    propose,
    sendable,
)
from services.gateway.chatops.replies import Answer, Asker, NotUnderstood, Outcome, Reply
from services.gateway.chatops.text_guard import foreign_digits, readable
from services.gateway.chatops.understanding import (
    Understanding,
    Understood,
    read_exact,
    resolve,
)
from services.gateway.proxy import Backends
from shared.incidents import incident_url
from shared.mrkdwn import escape

log = structlog.get_logger("gateway.chatops")

NEEDED_ROLE: dict[IntentName, Role] = {
    IntentName.RUN_ACTION: Role.OPERATOR,
    IntentName.APPROVE: Role.OPERATOR,
    IntentName.REJECT: Role.OPERATOR,
    IntentName.SILENCE: Role.OPERATOR,
    IntentName.START_MAINTENANCE: Role.OPERATOR,
    IntentName.RESET_BREAKER: Role.ADMIN,
    IntentName.RELOAD_RULES: Role.ADMIN,
    IntentName.UNSHADOW_RULE: Role.ADMIN,
}
QUICK = frozenset({IntentName.HELP})


class IntentInterpreter(Protocol):
    async def interpret(self, text: str) -> ChatIntent | None: ...


class KnowledgeSource(Protocol):
    async def current(self, correlation_id: str) -> Knowledge: ...


class ProposalSource(Protocol):
    async def take(self, user: str) -> str | Literal["taken"] | None:
        """The command last proposed to ``user`` (``confirm``), if still fresh, taken once
        (``"taken"``: an earlier "yes" took it)."""
        ...


#: Decisions on approvals: their free words are the decider's comment, never a condition.
DECISIONS = frozenset({IntentName.APPROVE, IntentName.REJECT})


def _put_off(asker: Asker, chat: ChatIntent, text: str) -> Answer | None:
    """The answer to an action read from free words that waits for a condition (the command
    it would become drops the condition and runs now); None for anything else."""
    if not chat.intent.changes_something or chat.intent in DECISIONS:
        return None
    clause = condition_in(text)
    if clause is None:
        return None
    return role_refusal(asker, chat) or conditional_refusal(chat, clause)


class ChatEngine:
    def __init__(
        self,
        backends: Backends,
        index: AnomalySource,
        *,
        llm: IntentInterpreter | None = None,
        llm_may_act: bool = False,
        clock: Callable[[], float] = time.time,
        understanding: Understanding | ClassifierLoader | None = None,
        knowledge: KnowledgeSource | None = None,
        proposals: ProposalSource | None = None,
        console_url: str | None = None,
    ) -> None:
        self.backends = backends
        self.console_url = console_url
        self.index = index
        self.llm = llm
        self.llm_may_act = llm_may_act
        self.clock = clock
        self.understanding = understanding
        self.knowledge = knowledge
        self.proposals = proposals

    def quick_reply(self, asker: Asker, text: str) -> Reply | None:
        """The reply when it needs no I/O at all (help, a refusal by role, or not understood
        with no LLM to ask), else None."""
        moment = self._moment(text)
        if isinstance(moment, NoMoment):
            return Reply(None, None, no_moment_answer(moment))
        if moment is not None:
            return None  # its answer says where the window starts
        parsed = parse(text)
        if isinstance(parsed, NotUnderstood):
            if self.llm is not None or self.understanding is not None:
                return None
            return Reply(None, None, not_understood(parsed))
        refusal = role_refusal(asker, parsed)
        if refusal is not None:
            return Reply(parsed, "parser", refusal)
        if parsed.intent in QUICK:
            return Reply(parsed, "parser", Answer(Outcome.ANSWERED, answers.HELP))
        return None

    async def reply(self, asker: Asker, text: str, correlation_id: str) -> Reply:
        reply = await self._reply(asker, text, correlation_id)
        if self.console_url is None:
            return reply
        linked = with_incident_links(reply.answer, self.console_url)
        return Reply(reply.intent, reply.understood_by, linked)

    def _moment(self, text: str) -> Since | NoMoment | None:
        return read_since(text, datetime.fromtimestamp(self.clock(), UTC))

    async def _reply(self, asker: Asker, text: str, correlation_id: str) -> Reply:
        if (digit := foreign_digits(text)) is not None:
            name = unicodedata.name(digit, "a digit").lower()
            return Reply(
                None,
                None,
                Answer(
                    Outcome.NOT_UNDERSTOOD,
                    f"Write numbers with the digits 0-9: `{digit}` ({name}) is not one. "
                    "Nothing was done.",
                ),
            )
        text = readable(text)
        moment = self._moment(text)
        if isinstance(moment, NoMoment):
            return Reply(None, None, no_moment_answer(moment))
        if moment is None:
            return await self._read_reply(asker, text, correlation_id)
        reply = await self._read_reply(asker, moment.text, correlation_id)
        return Reply(reply.intent, reply.understood_by, with_moment(reply, moment))

    async def _read_reply(self, asker: Asker, text: str, correlation_id: str) -> Reply:
        if self.understanding is not None:
            return await self._understood_reply(asker, text, correlation_id)
        parsed = parse(text)
        if isinstance(parsed, NotUnderstood) and parsed.refusal is None and self.llm is not None:
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

    async def _understand(self, text: str, known: Knowledge) -> Understood:
        """An exact command is read by the parser alone: it never waits for the classifier
        to be trained (the gateway's first seconds)."""
        exact = read_exact(text, known)
        if isinstance(exact, Understood):
            return exact
        understanding = self.understanding
        if isinstance(understanding, ClassifierLoader):
            understanding = await understanding.understanding()
        if understanding is None:  # its corpus could not be read: exact commands only
            return Understood(None, hint=exact.hint)
        return understanding.classify(text, known, exact)

    async def _understood_reply(self, asker: Asker, text: str, correlation_id: str) -> Reply:
        if self.proposals is not None and is_consent(text):
            return await self._confirmed(asker, correlation_id)
        known = Knowledge()
        if self.knowledge is not None:
            known = await self.knowledge.current(correlation_id)
        understood = await self._understand(text, known)
        if understood.refusal is not None:
            return Reply(None, understood.source, out_of_range_answer(understood.refusal))
        if understood.elsewhere is not None:  # never guessed at, by the LLM either
            return Reply(None, None, elsewhere_answer(understood.elsewhere))
        chat = understood.chat
        if chat is not None and understood.source is not None:
            answer = await self._reading_answer(asker, understood, chat, text, correlation_id)
            return Reply(chat, understood.source, answer)
        if understood.intent is not None:  # sure of the intent, something missing
            return Reply(None, "classifier", clarify(understood))
        if self.llm is not None:
            interpreted = await self.llm.interpret(text)
            if interpreted is not None:
                log.info("chatops_llm_understood", intent=interpreted.intent.value)
                resolved, corrected = resolve(interpreted, known)
                reading = Understood("llm", resolved, resolved.intent, 0.0, corrected=corrected)
                answer = await self._reading_answer(asker, reading, resolved, text, correlation_id)
                return Reply(resolved, "llm", answer)
        if understood.options:
            return Reply(None, None, clarify(understood))
        return Reply(None, None, not_understood(NotUnderstood(understood.hint)))

    async def _confirmed(self, asker: Asker, correlation_id: str) -> Reply:
        """ "yes" to the asker's last proposal: its exact command, through the same path as if
        it had been typed (parsed, role checked, carried out by its service)."""
        assert self.proposals is not None
        command = await self.proposals.take(asker.user)
        if command == "taken":
            return Reply(
                None,
                None,
                Answer(
                    Outcome.NOT_UNDERSTOOD,
                    'That proposal was confirmed already (an earlier "yes"): it runs once. '
                    "Nothing more was done.",
                ),
            )
        if command is None:
            return Reply(
                None,
                None,
                Answer(
                    Outcome.NOT_UNDERSTOOD,
                    "There is nothing to confirm: I proposed nothing to you in the last "
                    "5 minutes. Nothing was done.",
                ),
            )
        reply = await self._understood_reply(asker, command, correlation_id)
        answer = reply.answer
        confirmed = Answer(answer.outcome, f"(confirmed `{command}`)\n{answer.text}", answer.data)
        return Reply(reply.intent, reply.understood_by, confirmed)

    async def _reading_answer(
        self, asker: Asker, understood: Understood, chat: ChatIntent, text: str, cid: str
    ) -> Answer:
        """Runs what an exact command asks; proposes an action read any other way."""
        exact = understood.source == "parser" and not understood.corrected
        may_act = exact or (
            understood.source == "llm" and self.llm_may_act and not understood.corrected
        )
        if not exact and (put_off := _put_off(asker, chat, text)) is not None:
            return put_off
        if chat.intent.changes_something and not may_act:
            refusal = role_refusal(asker, chat)
            return refusal or propose(understood, chat)
        answer = await self.answer(asker, chat, text, cid)
        if exact:
            return answer
        note = corrected_note(understood, chat)
        data = {**answer.data, "command": chat.as_command()}
        if understood.source == "classifier":
            data["confidence"] = round(understood.confidence, 3)
        return Answer(answer.outcome, f"{note}\n{answer.text}", data)

    async def _llm_answer(
        self, asker: Asker, intent: ChatIntent, text: str, correlation_id: str
    ) -> Answer:
        command = intent.as_command()
        if (put_off := _put_off(asker, intent, text)) is not None:
            return put_off
        if intent.intent.changes_something and not self.llm_may_act:
            if sendable(intent) is None:
                return Answer(
                    Outcome.NOT_UNDERSTOOD,
                    "I understood an action whose names cannot be written as a command that "
                    "reads back the same. Nothing was done: say it with other words.",
                )
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
        calls = BackendCaller(self.backends, correlation_id)
        ops = Operations(calls, self.index, self.clock)
        try:
            if intent.intent in MORE:
                return await self._dispatch_more(calls, asker, intent)
            return await self._dispatch(ops, asker, intent, text)
        except BackendUnavailableError as exc:
            return Answer(
                Outcome.UNAVAILABLE,
                f"I cannot answer that now: {exc.detail}. {exc.outcome()}.",
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

    async def _dispatch_more(
        self, calls: BackendCaller, asker: Asker, intent: ChatIntent
    ) -> Answer:
        e = intent.entities
        insights = Insights(calls, self.index, self.clock)
        admin = AdminSwitches(calls)
        match intent.intent:
            case IntentName.PENDING_APPROVALS:
                return await insights.pending_approvals(e, asker.who)
            case IntentName.SAFETY_STATE:
                return await insights.safety_state()
            case IntentName.RULES:
                return await insights.rules(e)
            case IntentName.SUMMARY:
                return await insights.summary(e)
            case IntentName.NOISIEST:
                return await insights.noisiest(e)
            case IntentName.EXPLAIN_ANOMALY:
                return await insights.explain(e)
            case IntentName.RESET_BREAKER:
                return await admin.reset_breaker(asker.who)
            case IntentName.RELOAD_RULES:
                return await admin.reload_rules(asker.who)
            case IntentName.UNSHADOW_RULE:
                return await admin.unshadow_rule(e, asker.who)
            case _:
                return await admin.start_maintenance(e, asker.who)


MORE = frozenset(
    {
        IntentName.PENDING_APPROVALS,
        IntentName.SAFETY_STATE,
        IntentName.RULES,
        IntentName.SUMMARY,
        IntentName.NOISIEST,
        IntentName.EXPLAIN_ANOMALY,
        IntentName.RESET_BREAKER,
        IntentName.RELOAD_RULES,
        IntentName.UNSHADOW_RULE,
        IntentName.START_MAINTENANCE,
    }
)


CONSENT = re.compile(
    r"(?:yes|y|yep|yeah|yup|confirm(?:ed)?|do it|go|go ahead|yes,? do it|please do|sure)[.!]*",
    re.IGNORECASE,
)


def is_consent(text: str) -> bool:
    return CONSENT.fullmatch(" ".join(text.split())) is not None


def role_refusal(asker: Asker, intent: ChatIntent) -> Answer | None:
    needed = NEEDED_ROLE.get(intent.intent, Role.VIEWER)
    if needed in GRANTS[asker.role]:
        return None
    return Answer(
        Outcome.REFUSED,
        f"You are {'an' if asker.role.value[0] in 'aeiou' else 'a'} {asker.role}: "
        f"`{intent.as_command()}` needs the {needed} role. "
        "Nothing was done.",
        {"needed_role": needed.value, "role": asker.role.value},
    )


def out_of_range_answer(refusal: str) -> Answer:
    return Answer(Outcome.REFUSED, refusal, {"refused": "out_of_range"})


def not_understood(result: NotUnderstood) -> Answer:
    if result.refusal is not None:
        return out_of_range_answer(result.refusal)
    hint = f" {result.hint[0].upper()}{result.hint[1:]}." if result.hint else ""
    return Answer(
        Outcome.NOT_UNDERSTOOD,
        f"I did not understand.{hint} Say `help` for what I understand.",
    )


def with_incident_links(answer: Answer, console_url: str) -> Answer:
    """The answer with a link to the console's page of each incident it is about (the one
    explained, or a resource's open ones)."""
    ids = [answer.data["anomaly_id"]] if answer.data.get("anomaly_id") else []
    ids += [i for i in answer.data.get("open") or [] if isinstance(i, str)]
    if not ids:
        return answer
    urls = [incident_url(console_url, quote(i, safe="")) for i in ids]
    links = [f"<{escape(url)}|incident {escape(i[:8])}>" for url, i in zip(urls, ids, strict=True)]
    line = f"\nIncident page{'s' if len(links) > 1 else ''}: " + ", ".join(links)
    data = {**answer.data, "incident_urls": urls}
    return Answer(answer.outcome, answer.text + line, data, answer.markup + line)
