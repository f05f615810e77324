"""Watching the metric after an action succeeded, without holding a worker slot.

``begin`` (called when an action succeeds) stores the verification in Redis and schedules a
short check task. Each check reads what was seen since the action started — the detector's
resolution of the series (noted by the API's anomaly consumer, :func:`note_resolution`, which
also triggers a check at once), for an action answering an alert the alert's own resolution
(:func:`note_alert_resolution`: its source's word, weighed as such by :mod:`.judge`), and the
series' latest samples on the metrics stream — and
either decides (:mod:`.judge`) or schedules the next check, every ``SCOPS_VERIFY_CHECK_S``
until the time is up. The API's sweep re-sends checks of verifications overdue (a lost task).

A claim per run (``verify-<action>``) makes the decision once, however many checks race.
"""

from __future__ import annotations

import redis
import structlog
from redis.asyncio import Redis as AsyncRedis

from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.judgement import Observation, judge
from services.remediator.handling.log_context import bind_incident
from services.remediator.handling.scheduling import Scheduler
from services.remediator.handling.verification_outcomes import VerificationOutcomes
from services.remediator.stores import redis_keys
from services.remediator.stores.claims import ClaimBusyError, Claims, ClaimState
from services.remediator.stores.samples import SeriesReader
from shared.events import AnomalyEvent, RemediationRecord

log = structlog.get_logger("remediator.verification")

KEEP_MS = 24 * 3600 * 1000  # a decided verification is kept this long after its time
RESOLVED_TTL_MS = 24 * 3600 * 1000

# KEYS: 1 verification hash, 2 due zset, 3 the series' watchers, 4 the run hash
# ARGV: 1 run id, 2 request JSON, 3 within ms, 4 keep ms. Returns when it decides (ms).
BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return tonumber(redis.call('HGET', KEYS[1], 'due_ms'))
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local since = tonumber(redis.call('HGET', KEYS[4], 'reserved_at_ms') or now)
local due = now + tonumber(ARGV[3])
local keep = tonumber(ARGV[3]) + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'state', 'watching', 'request', ARGV[2], 'since_ms', since,
           'due_ms', due)
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('ZADD', KEYS[2], due, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
if redis.call('PTTL', KEYS[3]) < keep then redis.call('PEXPIRE', KEYS[3], keep) end
return due
"""

# KEYS: 1 the series' last resolution, 2 its watchers. ARGV: 1 ttl ms. Returns the watchers.
NOTE_RESOLVED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], now, 'PX', ARGV[1])
return redis.call('SMEMBERS', KEYS[2])
"""


def alert_resolved_key(anomaly_id: str) -> str:
    """When the source of alert ``anomaly_id`` said it resolved (ms); set by no one else."""
    return f"{redis_keys.TAG}:verify:alert-resolved:{anomaly_id}"


async def note_alert_resolution(client: AsyncRedis, anomaly_id: str) -> None:
    """An alert's source (not the detector) says the alert ``anomaly_id`` is resolved."""
    seconds, micros = await client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    await client.set(alert_resolved_key(anomaly_id), now_ms, px=RESOLVED_TTL_MS)


async def note_resolution(client: AsyncRedis, resource_id: str, metric: str) -> list[str]:
    """The detector resolved this series: note when (server clock); the runs watching it."""
    watchers = await client.eval(
        NOTE_RESOLVED,
        2,
        redis_keys.resolved(resource_id, metric),
        redis_keys.watched(resource_id, metric),
        RESOLVED_TTL_MS,
    )
    return sorted(w.decode() if isinstance(w, bytes) else str(w) for w in watchers)


class Verifier:
    def __init__(
        self,
        client: redis.Redis,
        *,
        claims: Claims,
        reader: SeriesReader,
        outcomes: VerificationOutcomes,
        scheduler: Scheduler,
        check_every_s: float = 60.0,
    ) -> None:
        self.redis = client
        self.claims = claims
        self.reader = reader
        self.outcomes = outcomes
        self.scheduler = scheduler
        self.check_every_s = check_every_s
        self._begin = client.register_script(BEGIN)

    def begin(self, request: ActionRequest) -> None:
        """The action succeeded: watch its metric (nothing to do without a plan)."""
        plan = request.verify
        if plan is None or request.dry_run:
            return
        self._begin(
            keys=[
                redis_keys.verification(request.run_id),
                redis_keys.VERIFYING,
                redis_keys.watched(request.incident.resource_id, plan.metric),
                redis_keys.run(request.run_id),
            ],
            args=[request.run_id, request.model_dump_json(), int(plan.within * 1000), KEEP_MS],
        )
        self.scheduler.verify(request.run_id, min(self.check_every_s, plan.within), follow=True)
        log.info("verification_started", run_id=request.run_id, watch=plan.describe())

    def check(self, run_id: str, *, follow: bool = True) -> RemediationRecord | None:
        """Decides when it can; else, with ``follow``, schedules the next check."""
        state = self._state(run_id)
        if not state:  # long gone: nothing to decide, nothing for the sweep to send again
            self.redis.zrem(redis_keys.VERIFYING, run_id)
            return None
        if state.get("state") != "watching":
            return None
        request = ActionRequest.model_validate_json(state["request"])
        bind_incident(request)
        plan = request.verify
        assert plan is not None
        try:
            claim = self.claims.acquire(
                request.subject_id, f"verify-{request.action}", resume_waiting=True
            )
        except ClaimBusyError:  # another check is deciding right now
            if follow:
                self.scheduler.verify(run_id, 1.0, follow=True)
            return None
        if claim.state is ClaimState.DONE:
            self._forget(request, plan.metric, "done")
            return None
        incident = request.incident
        since_ms, due_ms = int(state["since_ms"]), int(state["due_ms"])
        resolved = self.redis.get(redis_keys.resolved(incident.resource_id, plan.metric))
        alert_resolved = None
        if not _from_the_detector(incident):
            alert_resolved = self.redis.get(alert_resolved_key(str(incident.anomaly_id)))
        seen = Observation(
            since_ms=since_ms,
            now_ms=_server_ms(self.redis),
            due_ms=due_ms,
            resolved_ms=int(resolved) if resolved is not None else None,
            alert_resolved_ms=int(alert_resolved) if alert_resolved is not None else None,
            samples=self.reader.latest(incident.resource_id, plan.metric, since_ms, plan.samples),
        )
        expected = None
        if plan.metric == incident.metric and incident.expected_low is not None:
            expected = (incident.expected_low, incident.expected_high or incident.expected_low)
        judgement = judge(plan, seen, action=request.action, expected=expected)
        if judgement.outcome is None:
            claim.wait()
            if follow:
                wait_s = min(self.check_every_s, (due_ms - seen.now_ms) / 1000)
                self.scheduler.verify(run_id, max(wait_s, 0.05), follow=True)
            return None
        record = self.outcomes.settle(request, plan.metric, judgement, claim)
        self._forget(request, plan.metric, judgement.outcome.value)
        log.info("verification_decided", run_id=run_id, outcome=judgement.outcome.value)
        return record

    def overdue(self, older_than_s: float) -> int:
        """Sends a check for every verification past its time by ``older_than_s`` (its check
        task was lost); returns how many."""
        now_ms = _server_ms(self.redis)
        late = self.redis.zrangebyscore(
            redis_keys.VERIFYING, "-inf", now_ms - int(older_than_s * 1000), start=0, num=100
        )
        for raw in late:
            run_id = raw.decode()
            self.redis.zadd(redis_keys.VERIFYING, {run_id: now_ms})  # not again before older_than_s
            self.scheduler.verify(run_id, 0, follow=False)
        return len(late)

    def in_progress(self) -> int:
        return int(self.redis.zcard(redis_keys.VERIFYING))

    def _forget(self, request: ActionRequest, metric: str, outcome: str) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(redis_keys.verification(request.run_id), "state", outcome)
            pipe.zrem(redis_keys.VERIFYING, request.run_id)
            pipe.srem(redis_keys.watched(request.incident.resource_id, metric), request.run_id)
            pipe.execute()

    def _state(self, run_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(redis_keys.verification(run_id))
        return {k.decode(): v.decode() for k, v in raw.items()}


def _from_the_detector(incident: Incident) -> bool:
    """The detector derives an anomaly's id from its series and sample: such an incident is
    never judged by an alert's word, even one whose id was made to match."""
    if incident.observed_at is None:
        return False
    derived = AnomalyEvent.derive_id(incident.resource_id, incident.metric, incident.observed_at)
    return derived == incident.anomaly_id


def _server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000
