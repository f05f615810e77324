"""The gateway's Swagger UI in a real headless Chromium: a person authorises with an API key,
tries POST /anomaly, and gets a score back from the detector."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def gateway_and_detector(redis_url: str, log_dir: Path) -> Iterator[StackProcess]:
    env = stack_env(redis_url)
    env["SCOPS_DETECTOR_URL"] = f"http://127.0.0.1:{env['SCOPS_DETECTOR_PORT']}"
    detector = service("detector", env, log_dir).start()
    gateway = service("gateway", env, log_dir).start()
    try:
        detector.wait_ready()
        yield gateway.wait_ready()
    finally:
        gateway.stop()
        detector.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_try_it_out_on_post_anomaly_returns_a_score(
    gateway_and_detector: StackProcess, redis_url: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    key = api_key(redis_url, "viewer")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(f"{gateway_and_detector.url}/docs")
            page.locator("button.btn.authorize").first.click()
            dialog = page.locator(".dialog-ux")
            dialog.locator("input").first.fill(key)  # the X-API-Key scheme
            dialog.locator("button.modal-btn.authorize").first.click()
            dialog.locator("button.btn-done").first.click()

            operation = page.locator("#operations-detector-post_anomaly")
            operation.locator(".opblock-summary").click()
            operation.get_by_role("button", name="Try it out").click()
            operation.get_by_role("button", name="Execute").click()

            response = operation.locator(".live-responses-table tbody tr.response")
            expect(response.locator("td.response-col_status")).to_have_text("200", timeout=15_000)
            body = response.locator("td.response-col_description pre").first.inner_text()
            assert '"score"' in body
            assert '"resource_id": "web-1"' in body
        finally:
            browser.close()
