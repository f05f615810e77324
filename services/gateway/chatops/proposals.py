"""The words of what ChatOps asks back instead of acting or guessing (no I/O): an action
proposed as the exact command to send, a clarifying question with the likeliest readings, a
note that a name was read as a known one ("did you mean web-1?")."""

from __future__ import annotations

from services.gateway.chatops.answers import HELP
from services.gateway.chatops.durations import say_duration
from services.gateway.chatops.intents import ChatIntent
from services.gateway.chatops.parser import parse
from services.gateway.chatops.reading import ask_for
from services.gateway.chatops.replies import Answer, Outcome
from services.gateway.chatops.understanding import EXAMPLES, Understood

BY = {"parser": "as typed", "classifier": "by the built-in classifier", "llm": "by the LLM"}


def _corrections(understood: Understood) -> str:
    return "; ".join(
        f"I know no `{said}`: did you mean {known}?" for said, known in understood.corrected.items()
    )


def corrected_note(understood: Understood, chat: ChatIntent) -> str:
    """The first line of an answer built from a reading that was not an exact command."""
    note = f"(understood as `{chat.as_command()}`"
    if understood.source == "classifier":
        note += f", {understood.confidence:.0%} sure"
    note += ")"
    corrections = _corrections(understood)
    note = f"{note} {corrections}" if corrections else note
    window = chat.entities.window_s
    if understood.clock and "window_s" in understood.defaulted and window is not None:
        note += (
            f" I read a time of day only after `since` (`since {understood.clock}`), so this "
            f"is the default {say_duration(window)}: say `since {understood.clock}` or a "
            "length, e.g. `in the last 3h`."
        )
    elif understood.moment and "window_s" in understood.defaulted and window is not None:
        note += (
            f" I cannot read `{understood.moment}` as a moment, so this is the default "
            f"{say_duration(window)}: say e.g. `since 9am`, `since yesterday` or a length, e.g. "
            "`in the last 3h`."
        )
    return note


def elsewhere_answer(where: str) -> Answer:
    """A message naming what ChatOps does not do (acknowledge, mark a false positive): not
    read as anything else, with where it is done and the commands there are."""
    commands = HELP.split("\n", 1)[1]
    return Answer(
        Outcome.NOT_UNDERSTOOD,
        f"I did not understand that as a command: {where}. Nothing was done. "
        f"The commands I understand:\n{commands}",
        {"elsewhere": where},
    )


def _defaults(understood: Understood, chat: ChatIntent) -> str:
    """Says which value was not read but defaulted, so a "yes" never takes it unawares."""
    if "duration_s" not in understood.defaulted or chat.entities.duration_s is None:
        return ""
    length = say_duration(chat.entities.duration_s)
    return f" I read no length, so it uses the default {length}: send another if you mean one."


def sendable(chat: ChatIntent) -> str | None:
    """The command that reads back as exactly ``chat`` (None: its words would read as
    something else, e.g. a rule named "please", which tidying drops): only such a command is
    offered to be sent back, so a "yes" never does what was not proposed."""
    command = chat.as_command()
    return command if parse(command) == chat else None


def propose(understood: Understood, chat: ChatIntent) -> Answer:
    """An action not run: the command that runs it, to send back as it is."""
    command = sendable(chat)
    if command is None:
        return Answer(
            Outcome.NOT_UNDERSTOOD,
            f"I understood a {chat.intent.value.replace('_', ' ')}, but its names cannot be "
            "written as a command that reads back the same. Nothing was done: say it with "
            "other words, or use the API.",
        )
    sure = f" ({understood.confidence:.0%} sure)" if understood.source == "classifier" else ""
    corrections = _corrections(understood)
    lead = f"{corrections} " if corrections else ""
    text = (
        f"{lead}I understood {BY.get(understood.source or '', '')}{sure}: `{command}`."
        f"{_defaults(understood, chat)} Nothing was done: to do it, send exactly that."
    )
    data: dict[str, object] = {"command": command, "corrected": dict(understood.corrected)}
    if understood.defaulted:
        data["defaulted"] = list(understood.defaulted)
    if understood.source == "classifier":
        data["confidence"] = round(understood.confidence, 3)
    return Answer(Outcome.CONFIRM, text, data)


def conditional_refusal(chat: ChatIntent, clause: str) -> Answer:
    """An action asked to wait for something: not proposed (the command would run now)."""
    command = sendable(chat)
    now = f" To act now, send `{command}`." if command else ""
    return Answer(
        Outcome.NOT_UNDERSTOOD,
        f"I cannot wait for a condition (`{clause}`): ChatOps acts at once or not at all. "
        f"Nothing was done.{now} To act when something holds, write a remediation rule.",
        {"condition": clause, **({"command": command} if command else {})},
    )


def clarify(understood: Understood) -> Answer:
    """Not sure, or sure but lacking something: what to send instead."""
    if understood.intent is not None and understood.missing:
        example = EXAMPLES[understood.intent]
        text = (
            f"I think you mean `{example}`, but tell me {ask_for(understood.missing)}. "
            "Nothing was done."
        )
        return Answer(
            Outcome.CLARIFY,
            text,
            {
                "options": [example],
                "missing": list(understood.missing),
                "confidence": round(understood.confidence, 3),
            },
        )
    options = list(understood.options)
    listed = "\n".join(f"• `{option}`" for option in options)
    text = (
        f"I am not sure what you mean. Did you mean one of these?\n{listed}\n"
        "Send the one you mean (or `help`). Nothing was done."
    )
    return Answer(
        Outcome.CLARIFY,
        text,
        {"options": options, "confidence": round(understood.confidence, 3)},
    )
