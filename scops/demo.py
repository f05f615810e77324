"""``scops demo``: an incident through the running stack, printed as it happens.

Sends a normal load for a few resources, then a CPU spike on one, and prints the timeline read
from the event streams: metric → anomaly → remediation decision → notification.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import httpx
import redis
from redis.asyncio import Redis

from scops.processes import HTTP_SERVICES
from services.gateway.api_keys import KeyStore, Role
from services.notifier.core.alerts import MessageKind
from services.notifier.core.routing import Subject
from services.notifier.core.silences import Silence
from shared.events import (
    AnomalyEvent,
    Notification,
    NotificationStatus,
    RemediationRecord,
    Severity,
    decode_event,
)
from shared.readable_numbers import value_and_band
from shared.settings import BaseServiceSettings
from shared.streams import ANOMALIES, NOTIFICATIONS, REMEDIATIONS

RESOURCES = {"web-1": 35.0, "web-2": 38.0, "web-3": 33.0, "db-1": 52.0, "cache-1": 21.0}
INCIDENT_RESOURCE = "web-1"
NORMAL_SAMPLES = 240  # four hours of one-minute samples: past the detector's warm-up


def wait_ready(timeout: float) -> None:
    """Every service ready, or exit saying which is not; says at once what it waits for."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        for name, service in HTTP_SERVICES.items():
            told = False
            while True:
                try:
                    if client.get(service.url() + "/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if not told:
                    print(
                        f"waiting up to {timeout:.0f} s for {name} at {service.url()} "
                        "(`make up` runs the stack, in another terminal)",
                        flush=True,
                    )
                    told = True
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"{name} is not ready at {service.url()}: is `make up` running?"
                    )
                time.sleep(0.3)


def normal_load(end: datetime, rng: random.Random, suffix: str) -> list[list[dict[str, Any]]]:
    """The last hours at one sample a minute: every resource's CPU and memory, one request
    per ten minutes of history."""
    batches: list[list[dict[str, Any]]] = []
    for i in range(NORMAL_SAMPLES, 0, -1):
        ts = (end - timedelta(minutes=i)).isoformat()
        if i % 10 == 0 or not batches:
            batches.append([])
        for resource, cpu in RESOURCES.items():
            name = resource + suffix
            batches[-1].append(_sample(name, "cpu_utilization", rng.gauss(cpu, 2.0), ts))
            batches[-1].append(_sample(name, "memory_utilization", rng.gauss(60, 1.5), ts))
    return batches


def _sample(resource: str, metric: str, value: float, ts: str) -> dict[str, Any]:
    return {
        "resource_id": resource,
        "metric": metric,
        "value": round(value, 2),
        "timestamp": ts,
        "labels": {"service": "nginx" if resource.startswith("web") else resource.split("-")[0]},
    }


def _last_id(client: redis.Redis, stream: str) -> str:
    rows = client.xrevrange(stream, count=1)
    return rows[0][0].decode() if rows else "0-0"


DEMO_KEY_NAME = "demo"


async def _create_key(redis_url: str) -> tuple[str, str]:
    client = Redis.from_url(redis_url)
    try:
        key, token = await KeyStore(client).create(DEMO_KEY_NAME, Role.INGEST)
        return key.key_id, token
    finally:
        await client.aclose()


async def _revoke_key(redis_url: str, key_id: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        await KeyStore(client).revoke(key_id)
    finally:
        await client.aclose()


@contextmanager
def demo_key(redis_url: str) -> Iterator[str]:
    """The demo's own ingest key, revoked as soon as the demo has sent its samples, however
    it ends (a refused sample, an unreachable gateway, Ctrl-C): no run leaves behind a key
    that can send metrics. A real agent gets its key from `scops keys create`."""
    key_id, token = asyncio.run(_create_key(redis_url))
    try:
        yield token
    finally:
        asyncio.run(_revoke_key(redis_url, key_id))


def run_demo(timeout: float = 180.0, run_dir: Path = Path(".run")) -> int:
    wait_ready(timeout=60)
    return run_incident(
        HTTP_SERVICES["gateway"].url(), BaseServiceSettings().redis_url, timeout, run_dir
    )


def run_incident(gateway: str, redis_url: str, timeout: float, run_dir: Path = Path(".run")) -> int:
    """Sends the load and the spike through ``gateway``, then prints the incident's events.
    ``run_dir`` is the stack's (``scops up --run-dir``), where the services' logs are."""
    client = redis.Redis.from_url(redis_url)
    try:
        return _incident(client, gateway, redis_url, timeout, run_dir / "logs")
    finally:
        client.close()


def no_notification_line(timeout: float, log_dir: Path, muted: bool = False) -> str:
    if muted:
        return f"no notification within {timeout:.0f}s: a silence mutes it (said above)"
    return f"no notification within {timeout:.0f}s: see the services' logs ({log_dir}/)"


#: After the first message, how long the demo still waits for the decision to show.
DECISION_GRACE_S = 5.0


def muting_notes(
    incident: str, silences: list[dict[str, Any]], windows: list[dict[str, Any]], now: datetime
) -> tuple[list[str], bool]:
    """What will keep the incident quiet, said before it is sent: an active silence muting its
    anomaly message, a maintenance window holding actions on its resource (left by an
    earlier test, a load test, or the API's own examples). And whether a silence mutes it."""
    subject = Subject(
        kind=MessageKind.ANOMALY,
        severity=Severity.CRITICAL,
        resource_id=incident,
        metric="cpu_utilization",
    )
    notes: list[str] = []
    muted = False
    for raw in silences:
        try:
            silence = Silence.model_validate(raw)
        except ValueError:
            continue
        if silence.mutes(subject, now):
            muted = True
            notes.append(
                f"silence {silence.id} (resource {silence.matchers.resource}, metric "
                f"{silence.matchers.metric}, by {silence.created_by or '?'}, until "
                f"{silence.ends_at:%Y-%m-%d %H:%M} UTC) mutes {incident}'s message: end it "
                f"with DELETE /notifications/silences/{silence.id}"
            )
    for window in windows:
        pattern = str(window.get("target_pattern", ""))
        try:
            starts = datetime.fromisoformat(str(window["starts_at"]))
            ends = datetime.fromisoformat(str(window["ends_at"]))
        except (KeyError, ValueError):
            continue
        if starts <= now < ends and fnmatchcase(incident, pattern):
            notes.append(
                f"maintenance window {window.get('id', '?')} ({pattern}, until "
                f"{ends:%Y-%m-%d %H:%M} UTC) holds actions on {incident}: its decision will "
                f"be blocked; end it with DELETE /remediation/maintenance/{window.get('id')}"
            )
    return notes, muted


def _read_list(url: str) -> list[dict[str, Any]]:
    try:
        body = httpx.get(url, timeout=5.0).json()
    except (httpx.HTTPError, ValueError):
        return []
    return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []


def no_anomaly_line(timeout: float, incident: str, run: int, log_dir: Path) -> str:
    """Why a spike raised nothing: most often its series already has an anomaly open (data of
    one's own under the demo's names, or a demo run on another stack's Redis)."""
    return (
        f"no anomaly for {incident} cpu_utilization within {timeout:.0f}s: an anomaly already "
        "open on that series raises no new one (is data of your own named "
        f"{INCIDENT_RESOURCE}?); run the demo again: each run uses new series "
        f"({INCIDENT_RESOURCE}-run{run + 1}, ...). Else see the detector's log ({log_dir}/)"
    )


def closing_line(notification: Notification, outbox_url: str, log_dir: Path) -> str:
    """The demo's last line, from what became of its message: delivered (to Slack or a
    webhook), kept in the local outbox (no receiver configured) or failed."""
    if notification.status is NotificationStatus.DELIVERED:
        to = f" to {notification.receiver}" if notification.receiver else ""
        return f"Done. The message was delivered via {notification.channel}{to}."
    if notification.status is NotificationStatus.OUTBOX:
        return (
            "Done. No Slack or webhook is configured, so the message is in the local "
            f"outbox: {outbox_url}"
        )
    return (
        f"Done, but delivering the message via {notification.channel} failed after "
        f"{notification.attempts} attempt(s): {notification.error or 'no error given'}; "
        f"see the notifier's log ({log_dir}/)"
    )


def _incident(
    client: redis.Redis, gateway: str, redis_url: str, timeout: float, log_dir: Path
) -> int:
    positions = {s: _last_id(client, s) for s in (ANOMALIES, REMEDIATIONS, NOTIFICATIONS)}
    # Each run gets fresh series (a detector remembers the last incident of a series).
    run = int(client.incr("scops:{demo}:runs"))
    suffix = "" if run == 1 else f"-run{run}"
    incident = INCIDENT_RESOURCE + suffix
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.monotonic()

    def stamp() -> str:
        return f"[{time.monotonic() - started:6.2f}s]"

    with (
        demo_key(redis_url) as token,
        httpx.Client(timeout=10.0, headers={"X-API-Key": token}) as http,
    ):
        batches = normal_load(now, rng, suffix)
        for batch in batches:
            http.post(f"{gateway}/v1/metrics", json={"samples": batch}).raise_for_status()
        total = sum(len(b) for b in batches)
        print(f"{stamp()} sent {total} normal samples ({len(RESOURCES)} resources, cpu + memory)")
        spike = _sample(incident, "cpu_utilization", 97.5, now.isoformat())
        reply = http.post(f"{gateway}/v1/metrics", json={"samples": [spike]})
        reply.raise_for_status()
        correlation = reply.json()["correlation_id"]
    print(f"{stamp()} metric       {incident} cpu_utilization=97.5  (incident)")
    notes, muted = muting_notes(
        incident,
        _read_list(HTTP_SERVICES["notifier"].url() + "/notifications/silences"),
        _read_list(HTTP_SERVICES["remediator"].url() + "/remediation/maintenance"),
        datetime.now(UTC),
    )
    for note in notes:
        print(f"{stamp()} note         {note}")

    deadline = time.monotonic() + timeout
    notification: Notification | None = None
    decided = False
    told_at = 0.0
    anomaly_seen = False
    hinted = muted  # a silenced message is not late: grouping is not why it does not come
    waiting_since = time.monotonic()
    while time.monotonic() < deadline and (
        notification is None or (not decided and time.monotonic() - told_at < DECISION_GRACE_S)
    ):
        if not hinted and anomaly_seen and time.monotonic() - waiting_since > 15:
            hinted = True
            print(
                f"{stamp()} (the notifier groups anomalies of one metric like Alertmanager: "
                "after a recent message the next one waits for SCOPS_GROUP_INTERVAL_S)"
            )
        reply = client.xread(positions, count=100, block=500)
        for raw_stream, entries in reply or []:
            stream = raw_stream.decode()
            for entry_id, fields in entries:
                positions[stream] = entry_id.decode()
                event = decode_event(fields[b"type"].decode(), fields[b"data"])
                if event.correlation_id != correlation:
                    continue
                _print_event(stamp(), event)
                anomaly_seen = anomaly_seen or isinstance(event, AnomalyEvent)
                decided = decided or isinstance(event, RemediationRecord)
                if isinstance(event, Notification) and notification is None:
                    notification, told_at = event, time.monotonic()
    if notification is None:
        if anomaly_seen:
            print(no_notification_line(timeout, log_dir, muted))
        else:
            print(no_anomaly_line(timeout, incident, run, log_dir))
        return 1
    outbox = HTTP_SERVICES["notifier"].url() + "/notifications/outbox"
    print("\n" + closing_line(notification, outbox, log_dir))
    return 0


def _print_event(stamp: str, event: object) -> None:
    if isinstance(event, AnomalyEvent):
        _, low, high = value_and_band(event.value, event.expected_low, event.expected_high)
        print(
            f"{stamp} anomaly      {event.resource_id} {event.metric}: severity "
            f"{event.severity.value}, score {event.score:.2f} (expected {low} to {high})"
        )
    elif isinstance(event, RemediationRecord):
        print(
            f"{stamp} remediation  {event.status.value}: {event.action or 'no action'} "
            f"on {event.resource_id} — {event.reason}"
        )
    elif isinstance(event, Notification):
        print(f"{stamp} notification via {event.channel}: {event.text}")
