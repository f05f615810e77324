"""Hostile strings from outside (resource ids, labels, annotations, reasons, patterns, key names)
through the real API, then every console page parsed: no injected element, event handler or
script link anywhere."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import ConsoleClient

IMG = "<img/src=x/onerror=alert(1)>"
QUOTE = '"onmouseover=alert(1)//'
SCRIPT = "</script><script>alert(2)</script>"
JS = "javascript:alert(3)"
MARKERS = ("<img/src=x", '"onmouseover=', "<script>", "</script>")


def _wait_for(what: str, found: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {timeout}s")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "img", "iframe", "object", "embed", "style", "base"):
            self.bad.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or "/" in name or "=" in name:
                self.bad.append(f"<{tag} {name}={value!r}>")
            outside = ("javascript", "data", "//", "http")
            if (
                name in ("href", "src", "action", "formaction")
                and value
                and value.strip().lower().startswith(outside)
            ):
                self.bad.append(f"<{tag} {name}={value!r}>")


def _raw(text: str) -> list[str]:
    parser = _Tags()
    parser.feed(text)
    return parser.bad


def test_hostile_strings_are_escaped_on_every_console_page(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    ingest = console_stack.key("ingest", "coll")
    operator = console_stack.key("operator", "o" + IMG)
    now = datetime.now(UTC).replace(microsecond=0)
    samples = [
        {
            "resource_id": rid,
            "metric": "cpu_utilization",
            "value": v,
            "timestamp": (now - timedelta(seconds=60 - i)).isoformat(),
            "labels": {"env": IMG + " " + QUOTE},
        }
        for rid in (IMG, QUOTE)
        for i, v in enumerate([1.0, 2.0, 3.0])
    ]
    r = console_stack.api("POST", "/v1/metrics", ingest, json={"samples": samples})
    assert r.status_code == 202, r.text
    alerts = {
        "version": "4",
        "status": "firing",
        "receiver": "x",
        "groupKey": "g",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighCPU", "instance": rid, "severity": "critical"},
                "annotations": {"summary": SCRIPT + IMG, "description": QUOTE + JS},
                "startsAt": (now - timedelta(minutes=1)).isoformat(),
                "fingerprint": f"f{n}",
            }
            for n, rid in enumerate((IMG, QUOTE, JS))
        ],
    }
    r = console_stack.api("POST", "/v1/alerts/alertmanager", ingest, json=alerts)
    assert r.status_code == 202, r.text
    asked = console_stack.api(
        "POST",
        "/remediation/execute",
        operator,
        json={
            "action": "scale_in",
            "target": {"auto_scaling_group": "hostile-asg"},
            "params": {"by": 1},
            "reason": SCRIPT + IMG + QUOTE,
            "resource_id": IMG,
        },
    )
    silenced = console_stack.api(
        "POST",
        "/notifications/silences",
        operator,
        json={
            "matchers": {"resource": IMG, "metric": "*"},
            "duration_s": 600,
            "comment": SCRIPT + QUOTE,
        },
    )
    window = console_stack.api(
        "POST",
        "/remediation/maintenance",
        operator,
        json={"target_pattern": "h-" + QUOTE, "duration": "1h", "reason": SCRIPT + IMG},
    )
    for reply in (asked, silenced, window):  # accepted (asked may be refused by a safety rule)
        assert reply.status_code < 500, reply.text

    console.sign_in(operator)
    _wait_for(
        "the anomaly in the console",
        lambda: "onerror" in console.page("/console/anomalies").text,
    )
    pages = [
        "/console/",
        "/console/incidents",
        "/console/incidents?status=any",
        "/console/approvals",
        "/console/anomalies",
        "/console/silences",
        "/console/safety",
        "/console/rules",
        "/console/series?resource_id=" + IMG + "&metric=cpu_utilization",
        "/console/series?resource_id=" + QUOTE + "&metric=cpu_utilization",
        "/console/series?resource_id=" + IMG + "&metric=HighCPU",
        "/console/anomalies?resource_id=" + QUOTE,
        "/console/incidents?resource_id=" + QUOTE,
    ]
    listing = console.page("/console/incidents?status=any").text
    pages += sorted(set(re.findall(r'href="(/console/incidents/[0-9a-f-]{36})"', listing)))
    found = {}
    for path in pages:
        reply = console.page(path)
        assert reply.status_code == 200, (path, reply.status_code, reply.text[:500])
        bad = _raw(reply.text)
        if bad:
            found[path] = bad
        assert 'href="javascript' not in reply.text.lower()
    assert not found, found
