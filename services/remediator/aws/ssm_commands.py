"""SSM Run Command: send ``AWS-RunShellScript``, follow its invocations, find a lost command.

``SendCommand`` has no idempotency token, so the caller claims the run first, stores the
CommandId, and polls again rather than sending again. Each command's comment names its run, so
that a run whose worker died between sending and storing the id can find its command.

``SendCommand`` itself is never retried blindly: it is tried once. After an answer that leaves
it open whether AWS created the command (a read timeout, a connection lost mid-request, a 5xx),
the command is looked up by its run's comment and adopted if it exists; only when it certainly
does not may it be sent once more. A definite refusal (4xx) fails at once.
``GetCommandInvocation`` may answer ``InvocationDoesNotExist`` right after sending: that means
"not yet", not failure.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.remediator.aws.errors import AwsCallError
from services.remediator.aws.session import AwsApi
from services.remediator.core.actions.base import ShellPlan
from services.remediator.core.run_deadline import start_timeout_s
from services.remediator.core.targets import Target

DOCUMENT = "AWS-RunShellScript"
RUNNING = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
SUCCESS = "Success"
OUTPUT_PER_INSTANCE = 1500
SEND_ATTEMPTS = 2  # the first send, and at most one more once the first certainly did not land
CLOCK_SKEW = timedelta(minutes=1)  # lookups start this long before the send (clocks differ)
UNCONFIRMED = "SendCommandUnconfirmed"
LOOKUP_PAGES = 20

log = structlog.get_logger("remediator.ssm")


@dataclass(frozen=True)
class SentCommand:
    command_id: str
    instance_ids: tuple[str, ...]
    adopted: bool = False  # found by its comment after an ambiguous send, not sent again


@dataclass(frozen=True)
class Invocation:
    instance_id: str
    status: str
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCESS

    def excerpt(self) -> str:
        text = f"== {self.instance_id}: {self.status}, exit code {self.exit_code}\n"
        text += self.stdout[-OUTPUT_PER_INSTANCE:]
        if self.stderr:
            text += "\n-- stderr --\n" + self.stderr[-OUTPUT_PER_INSTANCE:]
        return text


def run_comment(run_id: str) -> str:
    return f"scops run {run_id}"


def ssm_targets(target: Target) -> dict[str, Any]:
    if target.kind == "instances":
        return {"InstanceIds": list(target.instance_ids)}
    if target.kind == "tags":
        return {
            "Targets": [{"Key": f"tag:{k}", "Values": [v]} for k, v in sorted(target.tags.items())]
        }
    raise ValueError(f"SSM commands cannot target {target.describe()}")


async def send_shell_command(
    aws: AwsApi, target: Target, plan: ShellPlan, run_id: str
) -> SentCommand:
    """Sends the command once; after an ambiguous failure adopts it if it exists, else sends
    it at most once more. Raises AwsCallError when it was refused, or when it is unknown
    whether it was sent (``SendCommandUnconfirmed``: the lookup failed)."""
    since = datetime.now(UTC) - CLOCK_SKEW
    command = {
        "DocumentName": DOCUMENT,
        "Parameters": {
            "commands": list(plan.commands),
            "executionTimeout": [str(plan.timeout_s)],
        },
        "TimeoutSeconds": start_timeout_s(
            plan.timeout_s, plan.max_concurrency, len(target.instance_ids) or 1
        ),
        "MaxConcurrency": plan.max_concurrency,
        "MaxErrors": plan.max_errors,
        "Comment": run_comment(run_id),
        **ssm_targets(target),
    }
    async with aws.client("ssm") as ssm:
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                reply = await aws.call(ssm, "send_command", retry=False, **command)
            except AwsCallError as exc:
                if exc.ambiguous:
                    found = await _confirm(aws, ssm, run_id, target, since, exc)
                    if found is not None:
                        return found
                elif not exc.transient:
                    raise  # refused (InvalidInstanceId, AccessDenied...): nothing was sent
                if attempt == SEND_ATTEMPTS:
                    raise AwsCallError(
                        "send_command",
                        exc.code,
                        f"{exc.message} (tried {SEND_ATTEMPTS} times; no command of this run "
                        "exists, so it was not sent)",
                        transient=exc.transient,
                    ) from exc
                log.warning("send_command_not_sent_sending_again", run_id=run_id, error=exc.code)
                await asyncio.sleep(aws.config.confirm_delay_s)
                continue
            sent = reply["Command"]
            if target.kind == "instances":  # exactly those asked for
                return SentCommand(sent["CommandId"], target.instance_ids)
            return SentCommand(sent["CommandId"], tuple(sent.get("InstanceIds") or ()))
    raise AssertionError("unreachable")  # pragma: no cover


async def _confirm(
    aws: AwsApi, ssm: Any, run_id: str, target: Target, since: datetime, failure: AwsCallError
) -> SentCommand | None:
    """After an ambiguous send: the command if AWS created it, None if it certainly did not."""
    log.warning("send_command_ambiguous_looking_up", run_id=run_id, error=failure.code)
    await asyncio.sleep(aws.config.confirm_delay_s)  # room for the command to be listed
    try:
        found = await _find(aws, ssm, run_id, target, since)
    except AwsCallError as lookup:
        raise AwsCallError(
            "send_command",
            UNCONFIRMED,
            f"SendCommand got no clear answer ({failure.code}) and the command could not be "
            f"looked up ({lookup.code}): it may be running; not sent again. Look for the "
            f"command with comment {run_comment(run_id)!r}",
            transient=False,
        ) from lookup
    if found is not None:
        log.warning("send_command_adopted", run_id=run_id, command_id=found.command_id)
        instance_ids = target.instance_ids if target.kind == "instances" else found.instance_ids
        return SentCommand(found.command_id, instance_ids, adopted=True)
    return None


async def invocations(aws: AwsApi, sent: SentCommand) -> list[Invocation] | None:
    """Every invocation once all have ended; None while any is still running."""
    async with aws.client("ssm") as ssm:
        if not sent.instance_ids:
            return await _listed_invocations(aws, ssm, sent.command_id)
        found = []
        for instance_id in sent.instance_ids:
            try:
                reply = await aws.call(
                    ssm,
                    "get_command_invocation",
                    CommandId=sent.command_id,
                    InstanceId=instance_id,
                )
            except AwsCallError as exc:
                if exc.code == "InvocationDoesNotExist":
                    return None
                raise
            if reply["Status"] in RUNNING:
                return None
            found.append(
                Invocation(
                    instance_id,
                    reply["Status"],
                    _exit_code(reply.get("ResponseCode")),
                    reply.get("StandardOutputContent", ""),
                    reply.get("StandardErrorContent", ""),
                )
            )
        return found


async def _listed_invocations(aws: AwsApi, ssm: Any, command_id: str) -> list[Invocation] | None:
    """Tag targets: AWS resolves the instances itself, so list what it invoked."""
    commands = await aws.call(ssm, "list_commands", CommandId=command_id)
    status = commands["Commands"][0]["Status"] if commands.get("Commands") else "Pending"
    if status in RUNNING:
        return None
    found, token = [], None
    while True:
        page = await aws.call(
            ssm,
            "list_command_invocations",
            CommandId=command_id,
            Details=True,
            **({"NextToken": token} if token else {}),
        )
        for item in page.get("CommandInvocations", []):
            plugin = (item.get("CommandPlugins") or [{}])[0]
            found.append(
                Invocation(
                    item["InstanceId"],
                    item["Status"],
                    _exit_code(plugin.get("ResponseCode")),
                    plugin.get("Output", ""),
                )
            )
        token = page.get("NextToken")
        if not token:
            return found


async def find_command(
    aws: AwsApi, run_id: str, target: Target, since: datetime
) -> SentCommand | None:
    """The command a dead attempt of ``run_id`` sent, if it reached SSM."""
    async with aws.client("ssm") as ssm:
        return await _find(aws, ssm, run_id, target, since)


async def _find(
    aws: AwsApi, ssm: Any, run_id: str, target: Target, since: datetime
) -> SentCommand | None:
    """Pages through the commands sent since ``since`` (to the target's first instance, for
    instance targets) for the one whose comment names the run."""
    comment = run_comment(run_id)
    lookup: dict[str, Any] = {
        "Filters": [{"key": "InvokedAfter", "value": since.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    }
    if target.kind == "instances":
        lookup = {"InstanceId": target.instance_ids[0]}
    token = None
    for _ in range(LOOKUP_PAGES):
        page = await aws.call(
            ssm,
            "list_commands",
            MaxResults=50,
            **lookup,
            **({"NextToken": token} if token else {}),
        )
        for command in page.get("Commands", []):
            if command.get("Comment") == comment:
                return SentCommand(command["CommandId"], tuple(command.get("InstanceIds") or ()))
        token = page.get("NextToken")
        if not token:
            return None
    raise AwsCallError(
        "list_commands",
        "LookupIncomplete",
        f"more than {LOOKUP_PAGES} pages of commands: cannot tell whether run {run_id} was sent",
        transient=False,
    )


def _exit_code(value: object) -> int | None:
    if isinstance(value, int) and value >= 0:
        return value
    return None
