"""The remediator's errors. Only the app maps them to HTTP problems (``api/problems.py``).

RemediatorError
├── RulesFileError            a rules or script catalogue file is unreadable or invalid
├── UnknownActionError        an action name that is not registered
├── RequestRefusedError       a manual request refused by a static rule (deny list, allow
│                             list, a target the action cannot act on, invalid parameters)
├── ApprovalError
│   ├── ApprovalNotFoundError
│   ├── ApprovalConflictError already decided, or the same person approving twice
│   └── ApprovalExpiredError  decided too late (the expiry is recorded)
└── MaintenanceWindowNotFoundError
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class RemediatorError(Exception):
    """Base of the remediator's domain errors."""


@dataclass(frozen=True)
class FileProblem:
    line: int | None
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.path + ': ' if self.path else ''}{self.reason}"


class RulesFileError(RemediatorError):
    def __init__(self, file: Path | str, problems: list[FileProblem]) -> None:
        self.file = str(file)
        self.problems = problems
        first = problems[0] if problems else FileProblem(None, "", "invalid")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{self.file}: {first}{more}")


class RulesUnreadableError(RemediatorError):
    """The rules in force (published by the API) cannot be read by this process, e.g. a
    newer release's API published rules naming an action or script this worker lacks. It
    decides nothing until it can: deciding with the rules it had would ignore, say, a deny
    list the reload added."""

    def __init__(self, version: str, cause: RulesFileError) -> None:
        self.version = version
        super().__init__(
            f"the rules in force (version {version}) cannot be read here: {cause}; nothing is "
            "decided until they can (upgrade or restart this worker)"
        )


class UnknownActionError(RemediatorError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown action {name!r}; known actions: {', '.join(self.known)}")


class RequestRefusedError(RemediatorError):
    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        super().__init__(reason)


class ApprovalError(RemediatorError):
    def __init__(self, approval_id: str, reason: str) -> None:
        self.approval_id = approval_id
        self.reason = reason
        super().__init__(reason)


class ApprovalNotFoundError(ApprovalError):
    pass


class ApprovalConflictError(ApprovalError):
    pass


class AnotherApproverNeededError(ApprovalConflictError):
    """The person deciding asked for the action, or approved it already: the approval is
    still pending, for someone else."""


class ApprovalAlreadyExpiredError(ApprovalConflictError):
    """A decision on an approval whose expiry is recorded already: gone (410), as the one that
    found it expired, and nothing more to record."""


class ApprovalExpiredError(ApprovalError):
    def __init__(self, approval_id: str, reason: str, approval: object = None) -> None:
        super().__init__(approval_id, reason)
        self.approval = approval  # the expired approval, for the caller to record


class MaintenanceWindowNotFoundError(RemediatorError):
    def __init__(self, window_id: str) -> None:
        self.window_id = window_id
        super().__init__(f"no maintenance window {window_id!r}")
