"""SSM Run Command: send ``AWS-RunShellScript``, follow its invocations, find a lost command.

``SendCommand`` has no idempotency token, so the caller claims the run first, stores the
CommandId, and polls again rather than sending again. Each command's comment names its run, so
that a run whose worker died between sending and storing the id can find its command.
``GetCommandInvocation`` may answer ``InvocationDoesNotExist`` right after sending: that means
"not yet", not failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.remediator.actions.base import ShellPlan
from services.remediator.aws.errors import AwsCallError
from services.remediator.aws.session import AwsApi
from services.remediator.targets import Target

DOCUMENT = "AWS-RunShellScript"
RUNNING = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
SUCCESS = "Success"
OUTPUT_PER_INSTANCE = 1500


@dataclass(frozen=True)
class SentCommand:
    command_id: str
    instance_ids: tuple[str, ...]


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
    async with aws.client("ssm") as ssm:
        reply = await aws.call(
            ssm,
            "send_command",
            DocumentName=DOCUMENT,
            Parameters={
                "commands": list(plan.commands),
                "executionTimeout": [str(plan.timeout_s)],
            },
            TimeoutSeconds=max(plan.timeout_s, 30),
            MaxConcurrency=plan.max_concurrency,
            MaxErrors=plan.max_errors,
            Comment=run_comment(run_id),
            **ssm_targets(target),
        )
    command = reply["Command"]
    if target.kind == "instances":  # exactly those asked for
        return SentCommand(command["CommandId"], target.instance_ids)
    return SentCommand(command["CommandId"], tuple(command.get("InstanceIds") or ()))


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
    comment = run_comment(run_id)
    lookup: dict[str, Any] = {
        "Filters": [{"key": "InvokedAfter", "value": since.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    }
    if target.kind == "instances":
        lookup = {"InstanceId": target.instance_ids[0]}
    async with aws.client("ssm") as ssm:
        token = None
        for _ in range(20):
            page = await aws.call(
                ssm,
                "list_commands",
                MaxResults=50,
                **lookup,
                **({"NextToken": token} if token else {}),
            )
            for command in page.get("Commands", []):
                if command.get("Comment") == comment:
                    return SentCommand(
                        command["CommandId"], tuple(command.get("InstanceIds") or ())
                    )
            token = page.get("NextToken")
            if not token:
                return None
    return None


def _exit_code(value: object) -> int | None:
    if isinstance(value, int) and value >= 0:
        return value
    return None
