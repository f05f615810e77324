"""An approval decided after its expiry is gone (410), whether the decision finds it expired or
the sweep recorded the expiry first (the usual case, within seconds): it was a 409 "is already
expired" then, as for an approval someone decided."""

from __future__ import annotations

import asyncio
import time

from shared.events import Severity
from tests.integration.remediator.api.test_api import AUTH, Api, api, audit  # noqa: F401
from tests.support.remediator_fixtures import AnomalyFactory


async def test_an_approval_the_sweep_recorded_expired_is_refused_with_410(
    api: Api,  # noqa: F811
    anomaly: AnomalyFactory,
) -> None:
    api.remediator.safety.set_dry_run(False)
    pending = api.remediator.workflow.handle(
        anomaly(resource_id="r9", metric="idle_z", severity=Severity.LOW)
    )
    assert pending is not None and pending.approval_id
    approval_id = pending.approval_id
    api.redis.hset(f"scops:{{remediation}}:approval:{approval_id}", "expires_at_ms", 1)
    api.redis.zadd("scops:{remediation}:approvals:pending", {approval_id: 1})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not await audit(api, status="expired"):
        await asyncio.sleep(0.1)
    assert [r["approval_id"] for r in await audit(api, status="expired")] == [approval_id]

    for verb, person in (("approve", "person:ana"), ("reject", "person:ben")):
        late = await api.http.post(
            f"/remediation/approvals/{approval_id}/{verb}",
            json={"by": person.split(":")[1]},
            headers={**AUTH, "X-Actor-Person": person},
        )
        assert late.status_code == 410, (verb, late.status_code, late.text)
        assert late.json()["type"].endswith("approval-expired")
        assert "is already expired" in late.json()["detail"]
