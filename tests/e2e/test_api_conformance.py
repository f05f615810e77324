"""Every service answers what its OpenAPI document says, whatever it is sent.

Schemathesis generates requests from each service's own document and checks every answer with
every check it has, configured by the repository's ``schemathesis.toml`` (which
``schemathesis run --checks all`` from the repository root reads too): no server error; a
documented status, content type, body and headers; valid data accepted and invalid data
refused; a missing required header or credentials refused; an unsupported method refused. It
runs the documents' examples, valid and invalid generated requests for every operation, and
call sequences (the stateful phase), against the gateway with keys of each role and against
each internal service directly with the internal token, on a real stack (every service a
process, a real Redis). Nothing is left out: the stack stays usable whatever the requests
change (dry-run, the breaker, rules reloaded from their file, windows and silences), because
no worker runs actions and each test's requests are bounded.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from scops.local_redis import ensure_redis, free_port
from tests.support.processes import SERVICES, api_key, service, stack_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

# Which answers to valid data are expected where a rule is more than a schema can say, and the
# serializer of remote write bodies (its hooks): the file a command-line run reads too.
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"
TOKEN = "conformance-internal-token-0123456789abcdef"  # a test stack's own
# Generated requests per operation and generation mode (valid, invalid): the admin key and the
# internal token reach every handler; the other roles mostly meet 403, so fewer suffice, and
# the documents' examples and the call sequences are run by those two only (as another role
# they are the same requests refused the same way).
FUZZ_EXAMPLES = {"admin": 4, "operator": 2, "viewer": 2, "ingest": 2, "internal": 6}
THOROUGH = ("admin", "internal")
STATEFUL_SCENARIOS = 8
# Per caller: a bound on the whole run (about 10-50 s here; checks that send again, without
# credentials or with another method, add to it), not a speed target.
BUDGET_S = 300.0


@dataclass(frozen=True)
class Stack:
    urls: dict[str, str]
    keys: dict[str, str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    log_dir: Path = tmp_path_factory.mktemp("conformance-logs")
    roomy = "1000000"  # the budgets are not what is tested here: keep 429 out of the way
    env = stack_env(
        handle.url,
        {
            "SCOPS_INTERNAL_TOKEN": TOKEN,
            "SCOPS_PROXY_RATE_PER_MIN": roomy,
            "SCOPS_PROXY_COSTLY_RATE_PER_MIN": roomy,
            "SCOPS_INGEST_RATE_PER_MIN": roomy,
            "SCOPS_CHATOPS_RATE_PER_MIN": roomy,
            "SCOPS_HISTORY_PORT": str(history_port := free_port()),
            "SCOPS_HISTORY_URL": f"http://127.0.0.1:{history_port}",
            "SCOPS_HISTORY_DATABASE_URL": f"sqlite+aiosqlite:///{log_dir / 'history.db'}",
        },
    )
    processes = [service(name, env, log_dir).start() for name in (*SERVICES, "history")]
    try:
        for process in processes:
            process.wait_ready()
        gateway = next(p for p in processes if p.name == "gateway")
        # The gateway describes forwarded operations as their services do once it has read
        # their documents (retried every few seconds after its start): fuzz that document,
        # once every service's is in it (before, a forwarded body is any object).
        wait_for(
            gateway, lambda: _merged(str(gateway.url)), 30, "the gateway to merge every document"
        )
        keys = {role: api_key(handle.url, role, f"conformance-{role}") for role in ROLES}
        yield Stack({p.name: str(p.url) for p in processes}, keys)
        for process in processes:
            process.assert_alive()
    finally:
        for process in processes:
            process.stop()
        redis.Redis.from_url(handle.url).close()
        handle.stop()


def _merged(gateway: str) -> bool:
    document = httpx.get(f"{gateway}/openapi.json", timeout=20).json()
    names = document["components"]["schemas"]
    return all(
        any(name.startswith(f"{service}_") for name in names)
        for service in ("Detector", "Remediator", "Notifier", "History")
    )


ROLES = ("admin", "operator", "viewer", "ingest")
CALLERS = [f"gateway as {role}" for role in ROLES] + [
    "detector",
    "remediator",
    "notifier",
    "history",
]


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict[str, str]
    per_mode: int  # generated requests per operation and generation mode
    thorough: bool  # the documents' examples and the call sequences too


def _target(stack: Stack, caller: str) -> Target:
    """Where to send, with which credentials, and how much."""
    if caller.startswith("gateway as "):
        role = caller.removeprefix("gateway as ")
        headers = {"X-API-Key": stack.keys[role]}
        return Target(stack.urls["gateway"], headers, FUZZ_EXAMPLES[role], role in THOROUGH)
    headers = {"X-Internal-Token": TOKEN}
    return Target(stack.urls[caller], headers, FUZZ_EXAMPLES["internal"], True)


def _run(strategy: st.SearchStrategy[Any], examples: int, call: Callable[[Any], None]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        call(case)

    with contextlib.suppress(Unsatisfiable):  # nothing invalid to make (no input at all)
        run()


class Failures:
    """Every distinct failure, by operation: a run reports all of them, not the first."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def record(self, label: str, exc: BaseException) -> None:
        text = str(exc)
        self.found.setdefault(f"{label}: {text.splitlines()[0] if text else type(exc)}", text)

    def report(self) -> str:
        return "\n\n".join(text[:1500] for text in self.found.values())


def _documented_bodies(document: dict[str, Any], operation: Any) -> list[Any]:
    """The whole request bodies a document gives as examples of an operation (not the
    combinations of its fields' examples that schemathesis makes up as well)."""
    body = document["paths"][operation.path][operation.method.lower()].get("requestBody", {})
    media = body.get("content", {}).get("application/json", {})
    schema = media.get("schema", {})
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    named = [e.get("value") for e in media.get("examples", {}).values()]
    single = [media["example"]] if "example" in media else []
    return [*schema.get("examples", []), *single, *named]


def _refuses_the_example(case: Any, response: Any) -> bool:
    """A documented example is refused as invalid (422). Path and query values the document
    gives no example for are generated, and may be refused for themselves."""
    if response.status_code != 422:
        return False
    generated = {*(case.path_parameters or {}), *(case.query or {})}
    fields = {str(e.get("field", "")) for e in response.json().get("errors", [])}
    return not fields or not fields <= generated


def _fuzz(schema: Any, target: Target, failures: Failures, deadline: float) -> int:
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if time.monotonic() > deadline:
            failures.record(operation.label, TimeoutError("not reached within the time budget"))
            continue

        def call(case: Any, label: str = operation.label, example: bool = False) -> None:
            nonlocal calls
            calls += 1
            try:
                response = case.call_and_validate(headers=target.headers, timeout=10)
            except (AssertionError, Exception) as exc:  # every failure, not the first
                failures.record(label, exc)
                return
            if example and _refuses_the_example(case, response):
                failures.record(
                    f"{label} example", AssertionError(f"refused: {response.text[:300]}")
                )

        if target.thorough:
            for body in _documented_bodies(schema.raw_schema, operation):
                _run(operation.as_strategy(body=body), 1, partial(call, example=True))
            examples = operation.get_strategies_from_examples()
            if examples:
                _run(st.one_of(examples), 2 * len(examples), call)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(operation.as_strategy(generation_mode=mode), target.per_mode, call)
    return calls


def _stateful(schema: Any, headers: dict[str, str], failures: Failures) -> None:
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers, "timeout": 10}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            try:
                case.validate_response(response, headers=headers)
            except (AssertionError, Exception) as exc:
                failures.record(f"stateful {case.operation.label}", exc)

    try:
        Machine.run(
            settings=settings(
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=6,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
        )
    except (AssertionError, Exception) as exc:
        failures.record("stateful", exc)


@pytest.mark.parametrize("caller", CALLERS)
def test_every_answer_is_the_documented_one(stack: Stack, caller: str) -> None:
    target = _target(stack, caller)
    schema = schemathesis.openapi.from_url(
        f"{target.url}/openapi.json", config=SchemathesisConfig.from_path(CONFIG)
    )
    failures = Failures()
    started = time.monotonic()
    calls = _fuzz(schema, target, failures, started + BUDGET_S)
    if target.thorough:
        _stateful(schema, target.headers, failures)
    assert calls > (3 if target.thorough else 2) * len(list(schema.get_all_operations()))
    assert failures.found == {}, failures.report()
