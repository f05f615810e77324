"""Hostile input a schema-driven fuzzer does not send: headers no client library writes, times
without a zone at the edge of the calendar, lone surrogates, numbers past a float, repeated
query parameters. Each asserts what the API promises: a 4xx problem naming the field and the
reason (never a 5xx), nothing accepted lost, the correlation id on every log line."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis

from scops.local_redis import free_port
from shared.metric_batches import decode_columns
from shared.streams import ANOMALIES, all_metric_streams, metrics_stream
from tests.support.processes import StackProcess, api_key, service, stack_env
from tests.support.remote_write import HEADERS, snappy, write_request

SHARDS = 1  # every sample of a request in one stream entry


@pytest.fixture
def redis_url(module_redis: str) -> str:
    return module_redis


class _Recorder(BaseHTTPRequestHandler):
    """A history service stand-in: answers 200 and remembers each request's path and query."""

    seen: list[str] = []

    def do_GET(self) -> None:
        _Recorder.seen.append(self.path)
        body = b'{"items": [], "next_cursor": null}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def history_standin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def env(module_redis: str, history_standin: str) -> dict[str, str]:
    dead = f"http://127.0.0.1:{free_port()}"  # backends are down: nothing can be forwarded
    return stack_env(
        module_redis,
        {
            "SCOPS_METRIC_SHARDS": str(SHARDS),
            "SCOPS_REMEDIATOR_URL": dead,
            "SCOPS_NOTIFIER_URL": dead,
            "SCOPS_HISTORY_URL": history_standin,
        },
    )


@pytest.fixture(scope="module")
def gateway(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackProcess]:
    logs = tmp_path_factory.mktemp("hostile-gateway-logs")
    process = service("gateway", env, logs).start().wait_ready()
    yield process
    process.stop()


@pytest.fixture
def keys(gateway: StackProcess, redis_url: str) -> dict[str, str]:
    return {role: api_key(redis_url, role) for role in ("ingest", "admin", "viewer")}


def written(client: redis.Redis) -> int:
    streams = [*all_metric_streams(SHARDS), ANOMALIES]
    return sum(client.xlen(s) for s in streams)


def raw_get(url: str, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """A GET sent byte for byte (httpx refuses non-ASCII header values): (status, raw head)."""
    host, port = url.removeprefix("http://").split(":")
    request = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    request += b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


# -- 1. a non-ASCII X-Correlation-ID is a 500 on every forwarded route ------------------------


@pytest.mark.parametrize("path", ["/remediation/status", "/notifications"])
def test_a_latin1_correlation_id_on_a_forwarded_route_is_not_a_server_error(
    gateway: StackProcess, keys: dict[str, str], path: str
) -> None:
    status, answer = raw_get(
        gateway.url or "",
        path,
        [(b"X-API-Key", keys["admin"].encode()), (b"X-Correlation-ID", b"caf\xe9-1")],
    )
    # The backend is down: 502 is the documented answer. A 500 means the gateway itself broke.
    assert status == 502, answer[:400]


def test_a_latin1_correlation_id_on_a_chatops_question_is_not_a_server_error(
    gateway: StackProcess, keys: dict[str, str]
) -> None:
    host, port = (gateway.url or "").removeprefix("http://").split(":")
    body = b'{"query": "status"}'
    request = (
        b"POST /chatops/query HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\nX-API-Key: %s\r\n"
        b"X-Correlation-ID: caf\xe9\r\n\r\n" % (len(body), keys["admin"].encode())
    ) + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    # Documented: an answer the services could not give is an answer (outcome), not an error.
    assert answer.startswith(b"HTTP/1.1 200"), answer[:400]


def test_a_correlation_id_no_header_can_carry_is_replaced_by_a_new_one(
    gateway: StackProcess, keys: dict[str, str]
) -> None:
    """Only visible ASCII travels on (in headers to the services, log lines, Slack): another
    id is replaced, and the answer says which id the request was given."""
    _, answer = raw_get(
        gateway.url or "",
        "/anomalies",
        [(b"X-API-Key", keys["viewer"].encode()), (b"X-Correlation-ID", b"caf\xe9-1")],
    )
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    (echoed,) = [line for line in head.split(b"\r\n") if line.startswith(b"x-correlation-id:")]
    given = echoed.split(b":", 1)[1].strip()
    assert given != b"caf\xe9-1" and len(given) == 32 and given.isascii(), head


# -- 2. a naive `since` of the first year is a 500 --------------------------------------------


def test_a_naive_since_in_year_one_is_refused_or_served_not_a_server_error(
    gateway: StackProcess, keys: dict[str, str]
) -> None:
    reply = httpx.get(
        f"{gateway.url}/anomalies",
        params={"since": "0001-01-01T00:00:00"},
        headers={"X-API-Key": keys["viewer"]},
    )
    assert reply.status_code in (200, 422), (reply.status_code, reply.text)


# -- 3. a lone surrogate in a forwarded body is a 500 -----------------------------------------


@pytest.mark.parametrize(
    "path,body",
    [
        ("/notifications/silences", b'{"matchers":{"resource_id":"web-\\ud800"},"comment":"x"}'),
        ("/remediation/maintenance", b'{"reason":"\\ud800"}'),
    ],
)
def test_a_lone_surrogate_in_a_forwarded_body_is_a_422_naming_the_field(
    gateway: StackProcess, keys: dict[str, str], path: str, body: bytes
) -> None:
    reply = httpx.post(
        f"{gateway.url}{path}",
        content=body,
        headers={"X-API-Key": keys["admin"], "Content-Type": "application/json"},
    )
    assert reply.status_code == 422, (reply.status_code, reply.text)
    assert reply.headers["content-type"] == "application/problem+json"


# -- 4. Alertmanager: one alert with a zone-less time fails the whole group with a 500 ---------


def alert(**overrides: Any) -> dict[str, Any]:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    return {
        "status": "firing",
        "labels": {"alertname": "HighCPU", "instance": "hostile-am"},
        "annotations": {},
        "startsAt": started.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "hostile-good",
        **overrides,
    }


def test_an_alert_timed_without_a_zone_is_read_as_utc_beside_the_others(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis
) -> None:
    naive = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None, microsecond=0)
    before = written(sync_redis)
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager",
        json={
            "version": "4",
            "status": "firing",
            "alerts": [alert(), alert(startsAt=naive.isoformat(), fingerprint="hostile-naive")],
        },
        headers={"X-API-Key": keys["ingest"]},
    )
    # Documented: a time without a zone is UTC, and each alert is judged alone (a 5xx would
    # make Alertmanager retry the whole group forever).
    assert reply.status_code == 202, (reply.status_code, reply.text)
    assert (reply.json()["firing"], reply.json()["skipped"]) == (2, [])
    assert written(sync_redis) == before + 2


# -- 5. 400s that name neither the field nor the reason ----------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"samples": [{"resource_id": "web-\xff", "metric": "m", "value": 1, "timestamp": 1}]}',
        b'{"samples": [{"resource_id": "web-1", "metric": "m", "value": 1'
        + b"0" * 5000
        + b', "timestamp": 1}]}',
    ],
    ids=["invalid-utf8", "5000-digit-integer"],
)
def test_a_body_json_cannot_read_is_a_problem_with_its_reason(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis, body: bytes
) -> None:
    before = written(sync_redis)
    reply = httpx.post(
        f"{gateway.url}/v1/metrics",
        content=body,
        headers={"X-API-Key": keys["ingest"], "Content-Type": "application/json"},
    )
    assert written(sync_redis) == before
    assert reply.status_code in (400, 422), reply.text
    problem = reply.json()
    assert problem.get("errors"), problem  # documented: errors[] naming the field and reason


# -- 7. remote write: one counter's overflowing rate loses the whole request's samples ---------


def test_an_overflowing_counter_rate_never_makes_accepted_samples_unreadable(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis
) -> None:
    stream = metrics_stream(0)
    before = sync_redis.xlen(stream)
    now_ms = int(time.time() * 1000)
    body = write_request(
        [
            ({"__name__": "node_load1", "instance": "hostile-good"}, [(now_ms, 0.5)]),
            # a counter rising by 1e308 in one millisecond: its rate is not a finite number
            (
                {"__name__": "http_requests_total", "instance": "hostile-evil"},
                [(now_ms - 1, 0.0), (now_ms, 1e308)],
            ),
        ]
    )
    reply = httpx.post(
        f"{gateway.url}/api/v1/write",
        content=snappy(body),
        headers={**HEADERS, "Authorization": f"Bearer {keys['ingest']}"},
    )
    assert reply.status_code == 204, reply.text  # Prometheus is told: on the stream
    [(_, fields)] = sync_redis.xrange(stream)[before:]
    # What the detector does with the entry (shared/bus.py: decode_columns, else dead letter)
    batch = decode_columns(fields[b"data"])
    assert "hostile-good" in batch.resource_id


# -- 8. repeated query parameters: all but the last silently dropped on the way ----------------


def test_a_repeated_severity_reaches_the_history_service_whole(
    gateway: StackProcess, keys: dict[str, str]
) -> None:
    _Recorder.seen.clear()
    reply = httpx.get(
        f"{gateway.url}/incidents",
        params=[("severity", "critical"), ("severity", "high")],
        headers={"X-API-Key": keys["viewer"]},
    )
    assert reply.status_code == 200, reply.text
    [forwarded] = _Recorder.seen
    # docs/history.md: severity may be repeated; the gateway must pass both or refuse (422)
    assert "severity=critical" in forwarded and "severity=high" in forwarded, forwarded


def test_a_misspelt_filter_is_refused_by_the_gateway_not_dropped_on_the_way(
    gateway: StackProcess, keys: dict[str, str]
) -> None:
    """The gateway forwards only the names an operation takes: a misspelt one was dropped, and
    the history service answered every incident as if they matched."""
    _Recorder.seen.clear()
    reply = httpx.get(
        f"{gateway.url}/incidents",
        params={"severity": "critical", "stauts": "open"},
        headers={"X-API-Key": keys["viewer"]},
    )
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    [error] = reply.json()["errors"]
    assert error["field"] == "stauts"
    assert error["reason"].startswith("not a parameter of this operation, which takes ")
    assert "`severity`" in error["reason"]
    assert _Recorder.seen == []  # nothing asked of the history service
    unauthenticated = httpx.get(f"{gateway.url}/incidents", params={"stauts": "open"})
    assert unauthenticated.status_code == 401  # the key first, then the query


# -- 9. Alertmanager: a lone surrogate in one alert's fingerprint fails the whole group --------


def test_an_alert_whose_fingerprint_holds_a_lone_surrogate_is_skipped_beside_the_others(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis
) -> None:
    good = alert(fingerprint="hostile-fp-good", labels={"alertname": "FpCPU", "instance": "fp-1"})
    bad = alert(fingerprint="MARK", labels={"alertname": "FpCPU", "instance": "fp-2"})
    text = httpx.Request(
        "POST", "http://x", json={"version": "4", "status": "firing", "alerts": [good, bad]}
    ).content.replace(b'"MARK"', b'"fp-\\ud800"')
    before = written(sync_redis)
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager",
        content=text,
        headers={"X-API-Key": keys["ingest"], "Content-Type": "application/json"},
    )
    # Each alert is judged alone: a 5xx would make Alertmanager retry the group forever.
    assert reply.status_code == 202, (reply.status_code, reply.text)
    answer = reply.json()
    assert answer["firing"] == 1
    [skipped] = answer["skipped"]
    assert skipped["index"] == 1
    assert skipped["reason"].startswith("fingerprint: contains a lone surrogate"), skipped
    assert written(sync_redis) == before + 1


# -- 10. a JSON body sent as another media type is refused as an invalid "body" ----------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
    ids=["none", "text-plain", "form", "multipart"],
)
@pytest.mark.parametrize("path", ["/v1/metrics", "/remediation/evaluate"])
def test_a_json_body_of_another_media_type_is_a_415_naming_content_type(
    gateway: StackProcess,
    keys: dict[str, str],
    sync_redis: redis.Redis,
    content_type: str | None,
    path: str,
) -> None:
    now = datetime.now(UTC).isoformat()
    sample = {"resource_id": "ct-1", "metric": "cpu", "value": 1, "timestamp": now}
    body = httpx.Request("POST", "http://x", json={"samples": [sample]}).content
    headers = {"X-API-Key": keys["admin"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = written(sync_redis)
    # httpx adds no Content-Type to raw content: "none" is sent without one.
    reply = httpx.post(f"{gateway.url}{path}", content=body, headers=headers)
    assert reply.status_code == 415, (reply.status_code, reply.text)
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["errors"][0]["field"] == "Content-Type", problem
    assert "application/json" in problem["errors"][0]["reason"]
    assert written(sync_redis) == before
    documented = httpx.get(f"{gateway.url}/openapi.json").json()["paths"][path]["post"]
    assert "415" in documented["responses"]


# -- 11. a compressed JSON body is refused as "not UTF-8" ----------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_compressed_json_body_is_a_415_naming_content_encoding(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis, coding: str
) -> None:
    now = datetime.now(UTC).isoformat()
    sample = {"resource_id": "ce-1", "metric": "cpu", "value": 1, "timestamp": now}
    raw = httpx.Request("POST", "http://x", json={"samples": [sample]}).content
    body = gzip.compress(raw) if coding == "gzip" else zlib.compress(raw)
    before = written(sync_redis)
    reply = httpx.post(
        f"{gateway.url}/v1/metrics",
        content=body,
        headers={
            "X-API-Key": keys["ingest"],
            "Content-Type": "application/json",
            "Content-Encoding": coding,
        },
    )
    assert reply.status_code == 415, (reply.status_code, reply.text)
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["errors"][0]["field"] == "Content-Encoding", reply.json()
    assert written(sync_redis) == before


@pytest.mark.parametrize("path", ["/v1/metrics", "/remediation/evaluate"])
@pytest.mark.parametrize("coding", ["gzip", "br", "x-unknown"])
def test_a_plain_json_body_declared_compressed_is_a_415_too(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis, path: str, coding: str
) -> None:
    """The header decides, not whether the bytes happen to parse: a body that says gzip but is
    plain JSON was accepted and written."""
    now = datetime.now(UTC).isoformat()
    sample = {"resource_id": "ce-2", "metric": "cpu", "value": 1, "timestamp": now}
    body = {"samples": [sample]} if path == "/v1/metrics" else {**sample, "value": 97.5}
    before = written(sync_redis)
    reply = httpx.post(
        f"{gateway.url}{path}",
        content=httpx.Request("POST", "http://x", json=body).content,
        headers={
            "X-API-Key": keys["ingest" if path == "/v1/metrics" else "admin"],
            "Content-Type": "application/json",
            "Content-Encoding": coding,
        },
    )
    assert reply.status_code == 415, (reply.status_code, reply.text)
    assert reply.json()["errors"][0]["field"] == "Content-Encoding", reply.json()
    assert written(sync_redis) == before


@pytest.mark.parametrize("path", ["/v1/metrics", "/remediation/execute", "/chatops/query"])
@pytest.mark.parametrize("who", ["no key", "wrong key", "viewer"])
def test_no_word_about_a_body_declared_compressed_before_the_key_is_checked(
    gateway: StackProcess, keys: dict[str, str], path: str, who: str
) -> None:
    """Only a caller who may call the route learns what is wrong with its body."""
    presented = {
        "no key": {},
        "wrong key": {"X-API-Key": "scops_000000000000_" + "0" * 40},
        "viewer": {"X-API-Key": keys["viewer"]},
    }[who]
    may_ask = who == "viewer" and path == "/chatops/query"  # a viewer may ask ChatOps
    reply = httpx.post(
        f"{gateway.url}{path}",
        content=b'{"query": "status"}',
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip", **presented},
    )
    expected = 415 if may_ask else 403 if who == "viewer" else 401
    assert reply.status_code == expected, (reply.status_code, reply.text)


@pytest.mark.parametrize("path", ["/v1/metrics", "/remediation/evaluate"])
@pytest.mark.parametrize("charset", ["iso-8859-1", '"windows-1252"'])
def test_a_json_body_in_another_charset_is_a_415_naming_content_type(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis, charset: str, path: str
) -> None:
    now = datetime.now(UTC).isoformat()
    sample = {"resource_id": "caf\u00e9-1", "metric": "cpu", "value": 1, "timestamp": now}
    text = json.dumps({"samples": [sample]}, ensure_ascii=False)
    body = text.encode("latin-1")
    before = written(sync_redis)
    reply = httpx.post(
        f"{gateway.url}{path}",
        content=body,
        headers={
            "X-API-Key": keys["admin"],
            "Content-Type": f"application/json; charset={charset}",
        },
    )
    assert reply.status_code == 415, (reply.status_code, reply.text)
    assert reply.headers["content-type"] == "application/problem+json"
    [error] = reply.json()["errors"]
    assert error["field"] == "Content-Type", error
    assert "UTF-8" in error["reason"] and charset.strip('"') in error["reason"], error
    assert written(sync_redis) == before


def test_a_json_body_that_reads_as_utf8_is_accepted_whatever_charset_it_declares(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis
) -> None:
    now = datetime.now(UTC).isoformat()
    sample = {"resource_id": "ascii-1", "metric": "cpu", "value": 1, "timestamp": now}
    reply = httpx.post(
        f"{gateway.url}/v1/metrics",
        content=json.dumps({"samples": [sample]}).encode("ascii"),
        headers={
            "X-API-Key": keys["ingest"],
            "Content-Type": "application/json; charset=iso-8859-1",
        },
    )
    assert reply.status_code == 202, (reply.status_code, reply.text)


# -- 12. a refused member's name is echoed whole, three times, in the problem ------------------


def test_a_huge_member_name_is_named_shortened_in_the_problem(
    gateway: StackProcess, keys: dict[str, str], sync_redis: redis.Redis
) -> None:
    now = datetime.now(UTC).isoformat()
    name = "k" * 1_000_000
    sample = {"resource_id": "nm-1", "metric": "cpu", "value": 1, "timestamp": now}
    before = written(sync_redis)
    reply = httpx.post(
        f"{gateway.url}/v1/metrics",
        json={"samples": [{**sample, "labels": {name: "v"}}]},
        headers={"X-API-Key": keys["ingest"]},
    )
    assert reply.status_code == 422, reply.text[:300]
    assert len(reply.content) < 5_000  # not an answer three times the size of the request
    [error] = reply.json()["errors"]
    assert error["field"].startswith("samples[0].labels.kkkk"), error["field"][:100]
    assert written(sync_redis) == before


def test_a_huge_member_name_in_a_forwarded_body_is_named_shortened(
    gateway: StackProcess, keys: dict[str, str]
) -> None:
    body = '{"resource_id": "web-1", "metric": "m", "' + "k" * 1_000_000 + '": NaN}'
    reply = httpx.post(
        f"{gateway.url}/anomaly",
        content=body.encode(),
        headers={"X-API-Key": keys["admin"], "Content-Type": "application/json"},
    )
    assert reply.status_code == 422, reply.text[:300]
    assert len(reply.content) < 5_000
    assert reply.json()["errors"][0]["field"].startswith("kkkk")
