"""Approvals: list what waits, approve or reject (recording who).

Who decides is the gateway's word, not the body's: the gateway authenticates the caller (API
key or Slack) and names the person in the ``X-Actor-Person`` header of its internal-token call;
M-of-N counts those identities, and ``X-Actor-Channel`` says through what they decided (an API
key, a Slack button, ChatOps, the console). The body's ``by`` is only the name shown in
records. Each approval and the rejection are kept with the approval (``votes``) and in every
record of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from services.remediator.api.deps import (
    ACTOR_PERSON_HEADER,
    INTERNAL,
    ChannelDep,
    RemediatorDep,
    get_person,
)
from services.remediator.stores.approvals import Approval
from shared.identifiers import ShownText
from shared.web import problem_responses

router = APIRouter(prefix="/remediation/approvals", tags=["approvals"])
ApprovalId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", examples=["4f1c" + "0" * 28])]


def acting_person(
    x_actor_person: Annotated[
        str,
        Header(
            alias=ACTOR_PERSON_HEADER,
            min_length=1,
            pattern=r"\S",
            description="Who decides, as the gateway authenticated them (percent-encoded); "
            "a decision without it is refused.",
        ),
    ],
) -> str:
    person = get_person(x_actor_person)
    if not person:
        raise HTTPException(
            400,
            f"a decision needs the deciding person, named by the gateway in {ACTOR_PERSON_HEADER};"
            " nothing was decided",
        )
    return person


PersonDep = Annotated[str, Depends(acting_person)]


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: ShownText = Field(
        min_length=1,
        max_length=128,
        examples=["ana"],
        description="The decider's name as shown in records (who counts is the gateway's "
        "X-Actor-Person).",
    )
    comment: ShownText = Field("", max_length=500, examples=["checked the dashboards"])


class DecisionOut(BaseModel):
    approval: Approval
    complete: bool = Field(description="False: more approvers are needed.")
    detail: str


@router.get("", summary="Approvals waiting for a decision")
def list_pending(remediator: RemediatorDep) -> list[Approval]:
    return remediator.approvals.pending()


@router.get("/{approval_id}", summary="One approval", responses=problem_responses(404))
def get_approval(approval_id: ApprovalId, remediator: RemediatorDep) -> Approval:
    return remediator.approvals.get(approval_id)


@router.post(
    "/{approval_id}/approve",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=INTERNAL,
    summary="Approve (the action then runs through the safety checks)",
    responses=problem_responses(400, 401, 404, 409, 410),
)
def approve(
    approval_id: ApprovalId,
    body: DecisionBody,
    person: PersonDep,
    via: ChannelDep,
    remediator: RemediatorDep,
) -> DecisionOut:
    decision = remediator.decisions.approve(
        approval_id, body.by, body.comment, person=person, via=via
    )
    approval = decision.approval
    if decision.complete:
        detail = f"approved by {approval.decided_by}: the action is queued"
    else:
        detail = f"{len(approval.approvers)} of {approval.required} approvals; waiting for more"
    return DecisionOut(approval=approval, complete=decision.complete, detail=detail)


@router.post(
    "/{approval_id}/reject",
    dependencies=INTERNAL,
    summary="Reject (nothing runs)",
    responses=problem_responses(400, 401, 404, 409, 410),
)
def reject(
    approval_id: ApprovalId,
    body: DecisionBody,
    person: PersonDep,
    via: ChannelDep,
    remediator: RemediatorDep,
) -> DecisionOut:
    approval = remediator.decisions.reject(
        approval_id, body.by, body.comment, person=person, via=via
    )
    return DecisionOut(approval=approval, complete=True, detail=f"rejected by {body.by}")
