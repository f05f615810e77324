"""One instance targeted at once by many spellings (its id, its Name tag, duplicates,
the same ids in another order, a larger set), from every source (anomalies through rules,
manual requests, an approval approved by two people at once), decided by 4 worker processes:
it is acted on once within its cooldown, and the rate limit holds overall."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from services.remediator.aws.session import AwsApi
from services.remediator.celery_app import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.errors import ApprovalConflictError
from shared.events import RemediationStatus
from shared.tasks import EXECUTE_REQUEST, HANDLE_ANOMALY
from tests.integration.remediator.conftest import HarnessFactory, aws_worker_env
from tests.support.aws_fleet import instances, sent_commands
from tests.support.events import cpu_anomaly
from tests.support.processes import worker
from tests.support.records import remediation_records
from tests.support.waiting import wait_for

RULES = """\
version: 1
policy: {verify: off}
rules:
  - name: by-id
    match: {metric: cpu_*}
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
  - name: by-tag
    match: {metric: mem_*}
    actions:
      - action: cleanup_disk
        target: {tags: {Name: "{label:name}"}}
        params: {paths: ["/tmp"], clean_package_cache: false}
  - name: asked
    match: {metric: latency_*}
    approval: required
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
"""
FINAL = {
    RemediationStatus.SUCCEEDED,
    RemediationStatus.FAILED,
    RemediationStatus.BLOCKED,
    RemediationStatus.INTERRUPTED,
}


def test_one_instance_many_spellings_many_sources_four_workers_acts_once(
    harness: HarnessFactory,
    redis_url: str,
    sync_redis: redis.Redis,
    log_dir: Path,
    tmp_path: Path,
    aws: AwsApi,
    aws_url: str,
) -> None:
    (hot,) = instances(aws, tags={"Name": "hot"})
    others = instances(aws, 2, tags={"Name": "other"})
    rules = tmp_path / "worker-rules.yaml"
    rules.write_text(RULES)
    h = harness(RULES, aws_url=aws_url)  # stands in for the API: prepares manual requests
    start = datetime.now(UTC) - timedelta(minutes=1)

    # An approval waiting on the hot instance, asked before anything acted on it.
    pending = h.workflow.handle(cpu_anomaly(hot, start, metric="latency_p99"))
    assert pending is not None and pending.status == RemediationStatus.PENDING_APPROVAL
    approval_id = pending.approval_id
    assert approval_id is not None

    manual_targets: list[dict[str, object]] = [
        {"instance_ids": [hot]},
        {"instance_ids": [hot, hot]},
        {"instance_ids": [others[0], hot]},
        {"instance_ids": [hot, others[0]]},
        {"tags": {"Name": "hot"}},
    ]
    requests = []
    for target in manual_targets * 2:
        requests.append(h.ask_cleanup(target))
    events = [cpu_anomaly(hot, start + timedelta(milliseconds=n)) for n in range(8)]
    events += [
        cpu_anomaly("web-hot", start + timedelta(milliseconds=n), {"name": "hot"}, metric="mem_x")
        for n in range(8)
    ]

    env = aws_worker_env(redis_url, aws_url, rules)
    proc = worker(env, log_dir, concurrency=4).start()
    celery = create_celery(RemediatorSettings(redis_url=redis_url))
    outcomes: list[str] = []

    def approve(person: str) -> None:
        try:
            decision = h.remediator.decisions.approve(approval_id, person, person=person)
            outcomes.append(decision.approval.state)
        except ApprovalConflictError as exc:
            outcomes.append(f"conflict: {exc}")

    try:
        voters = [threading.Thread(target=approve, args=(p,)) for p in ("bo", "cy")]
        for n in range(max(len(events), len(requests))):
            if n < len(events):
                celery.send_task(
                    HANDLE_ANOMALY, kwargs={"event": events[n].model_dump(mode="json")}
                )
            if n < len(requests):
                celery.send_task(
                    EXECUTE_REQUEST, kwargs={"request": requests[n].model_dump(mode="json")}
                )
            if n == 3:
                for voter in voters:
                    voter.start()
        for voter in voters:
            voter.join()
        assert sorted(o.split(":")[0] for o in outcomes) == ["approved", "conflict"], outcomes
        (approved,) = h.work.executions  # the approval's action, sent once
        celery.send_task(EXECUTE_REQUEST, kwargs={"request": approved.model_dump(mode="json")})
        celery.send_task(EXECUTE_REQUEST, kwargs={"request": approved.model_dump(mode="json")})
        subjects = {e.event_id for e in events} | {r.subject_id for r in requests}

        def all_decided() -> bool:
            records = remediation_records(sync_redis)
            done = {r.anomaly_id for r in records if r.status in FINAL}
            approval_done = any(r.approval_id == approval_id and r.status in FINAL for r in records)
            return subjects <= done and approval_done

        wait_for(proc, all_decided, 90, "a final decision for every request")
        # let polls finish
        wait_for(
            proc,
            lambda: (
                not any(
                    r.status == RemediationStatus.RUNNING
                    and not any(
                        x.run_id == r.run_id and x.status in FINAL
                        for x in remediation_records(sync_redis)
                    )
                    for r in remediation_records(sync_redis)
                )
            ),
            60,
            "every run finished",
        )
    finally:
        celery.close()
        assert proc.stop() == 0, proc.log_tail()

    records = remediation_records(sync_redis)
    runs_on: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record.status == RemediationStatus.RUNNING and record.run_id:
            for instance in (record.target or "").split(","):
                runs_on[instance].add(record.run_id)
    started = {r.run_id for r in records if r.status == RemediationStatus.RUNNING}
    assert len(sent_commands(aws)) == len(started)  # one command per run, none sent twice
    assert len(runs_on[hot]) == 1, sorted(runs_on[hot])  # within the 5-minute cooldown
    assert len(started) <= 10  # the rate limit
    blocked = [r for r in records if r.status == RemediationStatus.BLOCKED]
    assert len(blocked) == 8 + 8 + 10 + 1 - 1  # every subject but the one that ran
    assert {r.blocked_by for r in blocked} <= {"cooldown", "lock"}, {
        (r.blocked_by, r.reason) for r in blocked
    }
    # every final record of a subject is one
    final_by_subject: dict[object, int] = defaultdict(int)
    for record in records:
        if record.status in FINAL and record.status != RemediationStatus.SUCCEEDED:
            final_by_subject[(record.anomaly_id, record.approval_id)] += 1
    assert all(n == 1 for n in final_by_subject.values()), final_by_subject
