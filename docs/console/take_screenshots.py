"""Screenshots of the console's main pages, on a real stack with a real incident.

Run from the repository root: ``.venv/bin/python docs/console/take_screenshots.py``. It
starts its own redis-server and every service on free loopback ports, raises an incident
with a real anomaly (a rule that needs two people), approves it once, adds a silence and a
maintenance window, and writes ``docs/console/*.png`` with headless Chromium.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import ViewportSize

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scops.local_redis import ensure_redis, free_port  # noqa: E402
from tests.e2e.console.console_stack import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    INSTANCE,
    METRIC,
    ConsoleStack,
    console_stack,
    raise_incident,
)

OUT = Path(__file__).resolve().parent
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


def _seed(stack: ConsoleStack) -> tuple[dict[str, Any], str]:
    incident = raise_incident(stack)
    operator = stack.key("operator", "ana")
    headers = {"X-API-Key": operator}
    for path, body in (
        (
            "/notifications/silences",
            {"matchers": {"resource": "batch-*"}, "duration_s": 7200, "comment": "reindexing"},
        ),
        (
            "/remediation/maintenance",
            {"target_pattern": "db-*", "duration": "3h", "reason": "kernel upgrade"},
        ),
    ):
        reply = httpx.post(stack.url + path, json=body, headers=headers, timeout=20)
        assert reply.status_code == 201, reply.text
    return incident, operator


def shoot(stack: ConsoleStack) -> list[Path]:
    from playwright.sync_api import sync_playwright

    incident, operator = _seed(stack)
    admin = stack.key("admin", "ops-lead")
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.goto(f"{stack.url}/console/sign-in")
            written.append(_save(page, "sign-in"))
            page.get_by_label("API key").fill(operator)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{stack.url}/console/")
            page.goto(f"{stack.url}/console/incidents/{incident['id']}")
            page.locator("article.approval").get_by_role("button", name="Approve").click()
            page.wait_for_selector(".flash-ok")
            written.append(_save(page, "incident"))
            for name, path in (
                ("overview", "/console/"),
                ("incidents", "/console/incidents"),
                ("approvals", "/console/approvals"),
                ("series", f"/console/series?resource_id={INSTANCE}&metric={METRIC}"),
                ("silences", "/console/silences"),
                ("rules", "/console/rules"),
            ):
                page.goto(stack.url + path)
                written.append(_save(page, name))
            admin_page = browser.new_context(viewport=VIEWPORT).new_page()
            admin_page.goto(f"{stack.url}/console/safety")
            admin_page.get_by_label("API key").fill(admin)
            admin_page.get_by_role("button", name="Sign in").click()
            admin_page.wait_for_url(f"{stack.url}/console/safety")
            written.append(_save(admin_page, "safety"))
        finally:
            browser.close()
    return written


def _save(page: Any, name: str) -> Path:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def main() -> int:
    if CHROMIUM is None:
        print("no Chromium installed (apt-get install chromium)", file=sys.stderr)
        return 1
    redis = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with tempfile.TemporaryDirectory() as work, console_stack(redis.url, Path(work)) as stack:
            for path in shoot(stack):
                print(path.relative_to(ROOT))
    finally:
        redis.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
