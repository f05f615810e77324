"""Running one action request: static checks, the atomic safety reservation, the executor, and
the record of how it ended; polls of commands still running; recovery after a crash.

The run's state lives in a Redis hash (``reserved`` -> ``sent`` -> ``finished``), written in
the same atomic step as the reservation and updated before each side effect is known to be
safe, so an attempt that dies at any point leaves enough to say what happened and never runs
the action a second time.

A run about to be reserved is first entered in an index (``redis_keys.RESERVED_RUNS``), with its
request and claim, and leaves it once sent or finished. The entry is written *before* the
reservation, so a crash between the two leaves an entry without a reservation (the sweep drops
it), never a reservation without an entry; writing it after would leave a window where a worker
killed right after reserving holds the target's lock with nothing pointing at it. The API's
sweep uses the index to settle runs whose whole worker died before sending
(:meth:`ActionRunner.settle_abandoned`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import redis
import structlog

from services.remediator.core import run_deadline
from services.remediator.core.action_requests import ActionRequest
from services.remediator.core.records import request_record
from services.remediator.core.safety_policy import Refusal
from services.remediator.core.targets import Target
from services.remediator.executors.base import (
    NOT_ON_TARGET,
    TIMEOUT,
    Executor,
    Finished,
    Job,
    Started,
)
from services.remediator.handling.log_context import bind_incident_of
from services.remediator.handling.safety_checks import Prepared, SafetyChecks
from services.remediator.handling.scheduling import Scheduler
from services.remediator.stores import redis_keys
from services.remediator.stores.audit import RecordPublisher
from services.remediator.stores.claims import Claim, Claims
from services.remediator.stores.safety import RUN_TTL_MS
from shared.events import RemediationRecord, RemediationStatus

log = structlog.get_logger("remediator.runner")

# KEYS: 1 run hash, 2 active runs, 3 reserved runs. ARGV: 1 run id, 2 the run's record (JSON)
# The record is kept with the run as it finishes: if it is lost before it is written to the
# records stream (Redis gone at that moment), the next attempt finds it there and writes it.
FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'reserved' and state ~= 'sent' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'finished', 'record', ARGV[2])
-- kept among the active runs, due now, until its record is written (_publish_finished): a
-- worker dying in between leaves it for the sweep's next poll, which writes it
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


# KEYS: 1 run hash, 2 the claim's lease, 3 the claim. ARGV: 1 reservation, 2 the attempt's lease
# token, 3 lease ms. 1 while the run is still this attempt's to send: reserved by it, its claim
# still started and its lease its own (a lease that lapsed with nobody taking the claim over is
# taken back, so no sweep takes it over from now on). 0 once the sweep (or a redelivery) took
# the claim over: it is settling the run, or settled it (the claim done).
STILL_OURS = """
if redis.call('HGET', KEYS[1], 'state') ~= 'reserved' then return 0 end
if redis.call('HGET', KEYS[1], 'reservation') ~= ARGV[1] then return 0 end
if redis.call('GET', KEYS[3]) ~= 'started' then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 0 end
if not holder then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1
"""


class ActionRunner:
    def __init__(
        self,
        client: redis.Redis,
        *,
        checks: SafetyChecks,
        executor: Executor,
        publisher: RecordPublisher,
        scheduler: Scheduler,
        poll_first_s: float = 1.0,
        poll_max_s: float = 15.0,
        claim_ttl_s: int = 7 * 86400,
        on_success: Callable[[ActionRequest], None] | None = None,
    ) -> None:
        self.redis = client
        self.checks = checks
        self.registry = checks.registry
        self.safety = checks.safety
        self.executor = executor
        self.publisher = publisher
        self.scheduler = scheduler
        self.poll_first_s = poll_first_s
        self.poll_max_s = poll_max_s
        self.claim_ttl_s = claim_ttl_s
        self.on_success = on_success  # e.g. start watching the metric the action should fix
        self._finish = client.register_script(FINISH)
        self._still_ours = client.register_script(STILL_OURS)

    # -- deciding and starting -----------------------------------------------------------

    def execute(self, request: ActionRequest, claim: Claim) -> RemediationRecord | None:
        """The request's record; None when its run was taken over before it was sent (the
        attempt stood still past its lease) and settled by whoever took it."""
        prepared = self.checks.prepare(request)
        if isinstance(prepared, Refusal):
            return self.refuse(request, claim, prepared.check, prepared.detail)
        job, checks = prepared.job, prepared.checks
        if request.dry_run:
            verdict = self.safety.peek(checks)
        else:
            checks = replace(
                checks,
                lock_ttl_s=run_deadline.lock_ttl_s(
                    job.definition,
                    job.params,
                    _instance_count(request.target),
                    int(self.safety.limits.lock_ttl_s),
                ),
            )
            self._enter_index(request, claim)
            verdict = self.safety.reserve(checks)
            if verdict.reservation is None:
                self._leave_index(request.run_id)
        if not verdict.allowed:
            return self.refuse(request, claim, verdict.blocked_by or "safety", verdict.detail)
        if request.dry_run or verdict.dry_run or verdict.reservation is None:
            return self._dry_run(request, job, claim)
        return self._start(request, job, verdict.reservation, claim)

    def describe_dry_run(
        self, request: ActionRequest, claim: Claim, prepared: Prepared | None = None
    ) -> RemediationRecord:
        """Records what ``request`` would do, reserving nothing: for a decision whose peek of
        the safety checks found them all passing in dry-run. The job's description is the
        decision's (``prepared``), else the static checks are taken again (they cannot race)."""
        if prepared is not None and prepared.job.run_id == request.run_id:
            return self._dry_run(request, prepared.job, claim)
        again = self.checks.prepare(request)
        if isinstance(again, Refusal):
            return self.refuse(request, claim, again.check, again.detail)
        return self._dry_run(request, again.job, claim)

    def _dry_run(self, request: ActionRequest, job: Job, claim: Claim) -> RemediationRecord:
        record = request_record(
            request,
            RemediationStatus.DRY_RUN,
            request.reason,
            executor="dry-run",
            blocked_by="dry_run",
            output_excerpt=f"dry run: would {job.describe()}",
        )
        return self._publish(record, claim)

    def _start(
        self, request: ActionRequest, job: Job, reservation: str, claim: Claim
    ) -> RemediationRecord | None:
        started_at = time.time()
        instances = _instance_count(job.target)
        deadline = started_at + run_deadline.deadline_s(job.definition, job.params, instances)
        run_key = redis_keys.run(request.run_id)
        self.redis.hset(
            run_key,
            mapping={
                "request": request.model_dump_json(),
                "executor": self.executor.name,
                "started_at": started_at,
                "deadline": deadline,
                "claim": claim.key,
            },
        )
        if not self._still_ours(
            keys=[run_key, redis_keys.lease(claim.key), claim.key],
            args=[reservation, claim.token, claim.claims.lease_ms],
        ):
            # This attempt stood still (its process frozen) past its lease: the sweep took the
            # claim over and settled the run (recorded, its lock freed). Sending now would act
            # unrecorded, beside whatever took the lock since.
            log.warning("run_taken_over_not_sent", run_id=request.run_id, action=request.action)
            return None
        log.info("action_started", run_id=request.run_id, action=request.action)
        with claim.kept_alive():
            try:
                outcome = self.executor.start(job)
            except Exception as exc:  # an executor bug must still end in a record
                log.exception("executor_failed", run_id=request.run_id)
                outcome = Finished(
                    RemediationStatus.FAILED,
                    f"the executor failed: {type(exc).__name__}",
                    error_code=type(exc).__name__,
                )
        if isinstance(outcome, Finished):
            record = self._finish_run(request, reservation, outcome, started_at, claim.key)
            assert record is not None  # this attempt owns the run
            return record
        return self._sent(request, outcome, claim)

    def _sent(self, request: ActionRequest, started: Started, claim: Claim) -> RemediationRecord:
        run_key = redis_keys.run(request.run_id)
        due_ms = int((time.time() + self.poll_first_s) * 1000)
        deadline = self._deadline_for(request, started)
        reservation = self.redis.hget(run_key, "reservation")
        if deadline is not None and reservation is not None:
            # More instances than reserved for: the lock lasts as long as the run.
            definition = self.registry[request.action]
            self.safety.extend_lock(
                self.checks.request_for(request, definition, definition.parse(request.params)),
                reservation.decode(),
                deadline - time.time() + definition.lock_margin_s,
            )
        record = request_record(
            request,
            RemediationStatus.RUNNING,
            f"{started.summary} ({request.reason})",
            executor=self.executor.name,
            command_id=started.command_id,
        )
        # The record first: once the run is marked sent, an attempt that takes over only
        # resumes polling and would never write it. Killed before the mark, the run is still
        # reserved: the next attempt finds the command, adopts it and comes here again (the
        # record's id is derived: written twice, it is one record).
        self.publisher.publish(record)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                run_key,
                mapping={
                    "state": "sent",
                    "command_id": started.command_id,
                    "instance_ids": json.dumps(list(started.instance_ids)),
                    "polls": 0,
                    **({"deadline": deadline} if deadline is not None else {}),
                },
            )
            pipe.zadd(redis_keys.ACTIVE_RUNS, {request.run_id: due_ms})
            pipe.zrem(redis_keys.RESERVED_RUNS, request.run_id)
            pipe.delete(redis_keys.lease(claim.key))  # a duplicate now resumes polling
            pipe.execute()
        self.scheduler.poll(request.run_id, self.poll_first_s)
        return record

    # -- following a running command -------------------------------------------------------

    def poll(self, run_id: str) -> RemediationRecord | None:
        run = self._run(run_id)
        bind_incident_of(run.get("request"))
        if run.get("state") == "finished":
            return self._finish_unwritten(run_id, run)
        if run.get("state") != "sent":
            return None
        request = ActionRequest.model_validate_json(run["request"])
        definition = self.registry[request.action]
        job = Job(
            definition, definition.parse(request.params), request.target, run_id, request.place
        )
        started = Started(run["command_id"], tuple(json.loads(run["instance_ids"])), "")
        outcome = self.executor.poll(job, started)
        if outcome is None:
            if time.time() < float(run["deadline"]):
                polls = int(self.redis.hincrby(redis_keys.run(run_id), "polls", 1))
                delay = min(self.poll_first_s * 2 ** min(polls, 10), self.poll_max_s)
                due_ms = int((time.time() + delay) * 1000)
                self.redis.zadd(redis_keys.ACTIVE_RUNS, {run_id: due_ms})
                self.scheduler.poll(run_id, delay)
                return None
            timeout = int(float(run["deadline"]) - float(run["started_at"]))
            outcome = Finished(
                RemediationStatus.FAILED,
                f"command {started.command_id} gave no result within {timeout}s",
                error_code=TIMEOUT,
            )
        return self._finish_run(
            request,
            run["reservation"],
            outcome,
            float(run["started_at"]),
            run["claim"],
            command_id=started.command_id,
        )

    def _finish_run(
        self,
        request: ActionRequest,
        reservation: str,
        outcome: Finished,
        started_at: float,
        claim_key: str,
        command_id: str | None = None,
    ) -> RemediationRecord | None:
        record = request_record(
            request,
            outcome.status,
            f"{outcome.summary} ({request.reason})",
            executor=self.executor.name,
            output_excerpt=outcome.output,
            exit_code=outcome.exit_code,
            duration_s=round(max(time.time() - started_at, 0.0), 3),
            command_id=command_id,
            error_code=outcome.error_code,
        )
        if not self._mark_finished(request.run_id, record):
            return None  # another attempt finished it
        self._release_finished(request, reservation, record)
        if outcome.status == RemediationStatus.SUCCEEDED and self.on_success is not None:
            self.on_success(request)
        self._publish_finished(record, claim_key)
        return record

    def _finish_unwritten(self, run_id: str, run: dict[str, str]) -> RemediationRecord | None:
        """A run marked finished whose record was never written (its worker died between the
        two, after the command ended): its locks freed, its verification begun and its record
        written now, from what the run kept. Written already: it only leaves the active runs.
        Each step is safe to do again (a record twice is one record to every reader)."""
        if run.get("published") or not run.get("record") or not run.get("request"):
            self.redis.zrem(redis_keys.ACTIVE_RUNS, run_id)
            return None
        record = RemediationRecord.model_validate_json(run["record"])
        request = ActionRequest.model_validate_json(run["request"])
        log.warning("finished_run_recorded_late", run_id=run_id, status=record.status.value)
        self._release_finished(request, run.get("reservation", ""), record)
        if record.status == RemediationStatus.SUCCEEDED and self.on_success is not None:
            self.on_success(request)  # a verification begun already is left as it is
        self._publish_finished(record, run.get("claim", ""))
        return record

    def _release_finished(
        self, request: ActionRequest, reservation: str, record: RemediationRecord
    ) -> None:
        """Frees the run's locks and counts a failure toward the breaker. Doing it again is
        harmless: a lock is freed only by its own reservation, and a failure is counted once
        per reservation."""
        outcome = {
            RemediationStatus.FAILED: "failed",
            RemediationStatus.INTERRUPTED: "interrupted",
        }.get(record.status, "succeeded")
        if record.error_code == NOT_ON_TARGET:
            outcome = "not_on_target"  # nothing was tried: not the breaker's concern
        definition = self.registry[request.action]
        checks = self.checks.request_for(request, definition, definition.parse(request.params))
        failure = record.reason if outcome == "failed" else ""
        opened = self.safety.release(checks, reservation, outcome, failure)
        if opened:
            log.error("circuit_breaker_opened", run_id=request.run_id, action=request.action)

    def _publish_finished(self, record: RemediationRecord, claim_key: str) -> None:
        """Writes a finished run's record, then notes that it was written and ends the claim."""
        self.publisher.publish(record)
        assert record.run_id is not None
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(redis_keys.run(record.run_id), "published", "1")
            pipe.zrem(redis_keys.ACTIVE_RUNS, record.run_id)
            if claim_key:
                pipe.set(claim_key, b"done", ex=self.claim_ttl_s, xx=True)
            pipe.execute()

    # -- after a crash ---------------------------------------------------------------------

    def recover(self, request: ActionRequest, claim: Claim) -> RemediationRecord | None:
        """An earlier attempt of this request died: finish its story without running it."""
        run = self._run(request.run_id)
        state = run.get("state")
        if state == "finished":
            if run.get("record") and not run.get("published"):
                # It ended, and its record was lost on the way (Redis gone at that moment, or
                # the worker): released, verified and written now. The record's id is the one
                # the first attempt would have written, so a reader that saw it deduplicates it.
                written = self._finish_unwritten(request.run_id, {**run, "claim": claim.key})
                if written is not None:
                    return written
            claim.finish()
            return None
        if state == "sent":
            self.redis.delete(redis_keys.lease(claim.key))
            self.scheduler.poll(request.run_id, 0)
            log.info("run_resumed", run_id=request.run_id)
            return None
        if state != "reserved":
            self._leave_index(request.run_id)  # it stopped before reserving anything
            reason = "an earlier attempt stopped before recording its outcome; not run again"
            record = request_record(
                request, RemediationStatus.INTERRUPTED, reason, executor=self.executor.name
            )
            return self._publish(record, claim)
        return self._recover_reserved(request, run, claim)

    def _recover_reserved(
        self, request: ActionRequest, run: dict[str, str], claim: Claim
    ) -> RemediationRecord | None:
        definition = self.registry[request.action]
        job = Job(
            definition,
            definition.parse(request.params),
            request.target,
            request.run_id,
            request.place,
        )
        reserved_at = datetime.fromtimestamp(int(run["reserved_at_ms"]) / 1000, UTC)
        try:
            found = self.executor.find(job, reserved_at - timedelta(minutes=1))
        except Exception as exc:
            # Whether the command was sent is unknown: keep the run reserved (and its lock)
            # and let go of the claim, so the sweep asks again once AWS answers.
            log.warning("lost_command_lookup_failed", run_id=request.run_id, error=str(exc))
            self.redis.delete(redis_keys.lease(claim.key))
            return None
        if found is not None:
            started_at = float(run.get("started_at", time.time()))
            timeout = run_deadline.deadline_s(
                definition, job.params, _instance_count(request.target)
            )
            self.redis.hset(
                redis_keys.run(request.run_id),
                mapping={
                    "claim": claim.key,
                    "started_at": started_at,
                    "deadline": run.get("deadline", started_at + timeout),
                    "request": run.get("request", request.model_dump_json()),
                },
            )
            return self._sent(request, found, claim)
        if definition.shell is not None and self.executor.name == "ssm":
            known = "no SSM command of this run exists, so it was not sent"
        elif "started_at" in run:
            known = "it may have been partly done; check the target"
        else:
            known = "it had not started"
        reason = f"the worker stopped while running {job.describe()}: {known}; not run again"
        record = request_record(
            request, RemediationStatus.INTERRUPTED, reason, executor=self.executor.name
        )
        if not self._mark_finished(request.run_id, record):
            claim.finish()
            return None
        self._release_finished(request, run["reservation"], record)
        self._publish_finished(record, claim.key)
        return record

    def settle_abandoned(self, run_id: str, claims: Claims) -> RemediationRecord | None:
        """A run in the reserved-runs index whose attempt may be dead (the sweep asks).

        If its claim's lease is gone, nobody works on it: the whole worker died after entering
        the run in the index (before or after the reservation) and before the command was
        recorded as sent. Then the claim is taken over (a redelivery of the task waits, then
        finds it done) and the run is settled as a redelivery would: the command adopted if it
        reached SSM, else recorded ``interrupted``, its lock released and the team told. While
        the lease is alive (the attempt works, renewing it), nothing is done. An approved
        action whose run was never reserved is left to its next delivery, which starts it.
        """
        run = self._run(run_id)
        if run.get("state") in ("sent", "finished") or "claim" not in run:
            self._leave_index(run_id)  # settled already, or the run hash expired
            return None
        claim = claims.take_over(run["claim"])
        if isinstance(claim, str):
            if claim != "busy":  # the claim is done, waiting or gone: nothing to settle here
                self._leave_index(run_id)
            return None
        request = ActionRequest.model_validate_json(run["request"])
        if request.approval_id and "state" not in run:
            # An approved action whose attempt died before reserving: nothing was sent. It is
            # noted among the dispatched, and its next delivery starts it (ActionRunner's
            # caller): its claim is let go, not settled.
            self._leave_index(run_id)
            self.redis.delete(redis_keys.lease(claim.key))
            log.warning("abandoned_approved_action_left_to_start", run_id=run_id)
            return None
        log.warning("abandoned_run_settling", run_id=run_id, state=run.get("state"))
        with claim.kept_alive():  # the SSM look-up may take a while
            return self.recover(request, claim)

    # -- helpers ---------------------------------------------------------------------------

    def reserved_ever(self, run_id: str) -> bool:
        """Whether the run was ever reserved: only a reserved run can have been sent."""
        return bool(self.redis.hexists(redis_keys.run(run_id), "state"))

    def _enter_index(self, request: ActionRequest, claim: Claim) -> None:
        """Before the reservation: the run, its request and claim, in the reserved index."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                redis_keys.run(request.run_id),
                mapping={
                    "request": request.model_dump_json(),
                    "executor": self.executor.name,
                    "claim": claim.key,
                },
            )
            pipe.pexpire(redis_keys.run(request.run_id), RUN_TTL_MS)
            pipe.zadd(redis_keys.RESERVED_RUNS, {request.run_id: int(time.time() * 1000)})
            pipe.execute()

    def _leave_index(self, run_id: str) -> None:
        """Nothing was reserved (refused, dry run): forget the entry and its fields."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(redis_keys.RESERVED_RUNS, run_id)
            pipe.eval(
                "if redis.call('HEXISTS', KEYS[1], 'state') == 0 then "
                "return redis.call('DEL', KEYS[1]) end return 0",
                1,
                redis_keys.run(run_id),
            )
            pipe.execute()

    def _mark_finished(self, run_id: str, record: RemediationRecord) -> bool:
        """reserved/sent -> finished, once, keeping its record (False: another attempt
        finished it)."""
        return bool(
            self._finish(
                keys=[redis_keys.run(run_id), redis_keys.ACTIVE_RUNS, redis_keys.RESERVED_RUNS],
                args=[run_id, record.model_dump_json()],
            )
        )

    def _deadline_for(self, request: ActionRequest, started: Started) -> float | None:
        """A later deadline once the command's instances are known (tag targets: the ones SSM
        reports), if they are more than the run was started with."""
        sent_to = len(started.instance_ids)
        if sent_to <= _instance_count(request.target):
            return None
        started_at = self.redis.hget(redis_keys.run(request.run_id), "started_at")
        if started_at is None:
            return None
        definition = self.registry[request.action]
        params = definition.parse(request.params)
        return float(started_at) + run_deadline.deadline_s(definition, params, sent_to)

    def refuse(
        self, request: ActionRequest, claim: Claim, check: str, detail: str
    ) -> RemediationRecord:
        """Records ``request`` blocked by ``check`` and finishes its claim."""
        record = request_record(
            request,
            RemediationStatus.BLOCKED,
            f"{detail} ({request.reason})",
            executor=self.executor.name,
            blocked_by=check,
        )
        return self._publish(record, claim)

    def _publish(self, record: RemediationRecord, claim: Claim) -> RemediationRecord:
        self.publisher.publish(record, done_claim=claim.key, claim_ttl_s=claim.claims.ttl_s)
        return record

    def _run(self, run_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(redis_keys.run(run_id))
        return {k.decode(): v.decode() for k, v in raw.items()}


def _instance_count(target: Target) -> int:
    """The instances a target names before anything is sent (tag selectors: unknown, 1)."""
    return len(target.instance_ids) if target.kind == "instances" else 1
