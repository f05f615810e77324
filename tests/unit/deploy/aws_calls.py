"""The AWS API calls the services make, found in their source: every aioboto3 client opened
with ``.client("ssm")`` (or ``aws.client(...)``) and every method called on it, directly
(``await ssm.get_parameter(...)``) or through the retry helper (``aws.call(ssm,
"send_command", ...)``). Operation names come from botocore's own service models, so
``describe_auto_scaling_groups`` maps to ``autoscaling:DescribeAutoScalingGroups``."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

# Client variables passed into helpers are recognised by these names.
SERVICE_NAMES = frozenset({"ssm", "ec2", "autoscaling", "cloudwatch", "sts"})
# IAM action prefixes that differ from the API's signing name.
IAM_PREFIXES = {"cloudwatch": "cloudwatch", "resourcegroupstaggingapi": "tag"}


@dataclass(frozen=True)
class AwsCall:
    path: Path
    line: int
    service: str  # the client's service name: ssm, ec2, autoscaling...
    method: str  # snake_case, as called

    def iam_action(self) -> str:
        return f"{iam_prefix(self.service)}:{operations(self.service)[self.method]}"


class UnresolvedCall(ValueError):
    """A call the scanner cannot tie to a client and an operation (say how, or add a name)."""


@cache
def operations(service: str) -> dict[str, str]:
    """snake_case method name -> API operation name."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


@cache
def iam_prefix(service: str) -> str:
    if service in IAM_PREFIXES:
        return IAM_PREFIXES[service]
    model = botocore.session.get_session().get_service_model(service)
    return str(model.metadata.get("signingName") or model.endpoint_prefix)


def _client_service(node: ast.expr) -> str | None:
    """``x.client("ssm", ...)`` -> "ssm"."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.clients: list[dict[str, str]] = [{}]
        self.calls: list[AwsCall] = []

    def _lookup(self, name: str) -> str | None:
        for scope in reversed(self.clients):
            if name in scope:
                return scope[name]
        return name if name in SERVICE_NAMES else None

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.clients.append({})
        self.generic_visit(node)
        self.clients.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        for item in node.items:
            service = _client_service(item.context_expr)
            if service is not None:
                if not isinstance(item.optional_vars, ast.Name):
                    raise UnresolvedCall(f"{self.path}:{node.lineno}: client not bound to a name")
                self.clients[-1][item.optional_vars.id] = service
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            target = func.value
            # aws.call(client, "operation", ...) / self.aws.call(...)
            if func.attr == "call" and len(node.args) >= 2 and isinstance(node.args[0], ast.Name):
                service = self._lookup(node.args[0].id)
                operation = node.args[1]
                literal = isinstance(operation, ast.Constant) and isinstance(operation.value, str)
                if service is not None:
                    if not literal:
                        raise UnresolvedCall(f"{self.path}:{node.lineno}: operation not a literal")
                    self._add(node, service, str(operation.value))  # type: ignore[attr-defined]
                elif literal and any(
                    operation.value in operations(s)  # type: ignore[attr-defined]
                    for s in SERVICE_NAMES
                ):
                    raise UnresolvedCall(
                        f"{self.path}:{node.lineno}: which client is {node.args[0].id!r}?"
                    )
            # client.operation(...)
            elif isinstance(target, ast.Name) and target.id in self._bound_names():
                service = self._lookup(target.id)
                assert service is not None
                self._add(node, service, func.attr)
        self.generic_visit(node)

    def _bound_names(self) -> set[str]:
        return {name for scope in self.clients for name in scope}

    def _add(self, node: ast.Call, service: str, method: str) -> None:
        if method not in operations(service):
            raise UnresolvedCall(f"{self.path}:{node.lineno}: {service} has no {method}")
        self.calls.append(AwsCall(self.path, node.lineno, service, method))


def aws_calls(root: Path) -> list[AwsCall]:
    calls = []
    for path in sorted(root.rglob("*.py")):
        scanner = _Scanner(path)
        scanner.visit(ast.parse(path.read_text(), str(path)))
        calls += scanner.calls
    return calls
