"""No piece of a webhook URL survives in what the notifier stores or logs: not the URL, its
path, its secret, a fragment of it, a copy cut short, nor anything shaped like a Slack secret."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from services.notifier.delivery.http_post import DETAIL_MAX, post_json
from services.notifier.delivery.redaction import scrub
from shared.secret_shapes import REDACTED

SECRET = "Zq8sWv3Lk2PnR7tYb9Xc4Md1"
TEAM, BOT = "T0A1B2C3D", "B9Z8Y7X6W"
PATH = f"/services/{TEAM}/{BOT}/{SECRET}"
URL = f"https://hooks.slack.com{PATH}"
GENERIC = "https://chat.example.org/api/v1/webhooks/7f3e9a1c5b2d4e6f8a0b?key=QpR4sT6uV8wX"


def leaked(text: str, secret: str = SECRET, size: int = 4) -> list[str]:
    """Pieces of ``secret`` (``size`` characters or more) still in ``text``, in any case."""
    lowered = text.lower()
    pieces = {secret[i : i + size].lower() for i in range(len(secret) - size + 1)}
    return sorted(p for p in pieces if p in lowered)


@pytest.mark.parametrize(
    "echo",
    [
        f"invalid_token for {URL}",
        f"no_service: POST {PATH} not found",
        f"no such hook {SECRET}",
        f"NO SUCH HOOK {SECRET.upper()}",
        "path=%2Fservices%2F" + f"{TEAM}%2F{BOT}%2F{SECRET}",
        f'{{"error":"invalid","url":"{URL}"}}',
        f"token ...{SECRET[6:17]}... refused",
        f"cut here: https://hooks.slack.com/services/{TEAM}/{BOT}/{SECRET[:3]}",
        f"cut here: /services/{TEAM}/{BOT}/{SECRET[:2]}",
        f"cut here: services/{TEAM}/B9Z",
    ],
)
def test_every_echo_of_the_slack_url_is_removed(echo: str) -> None:
    text = scrub(echo, [URL])
    assert leaked(text) == []
    assert TEAM not in text and BOT not in text
    assert REDACTED in text


def test_a_slack_webhook_path_or_token_is_removed_whichever_url_was_configured() -> None:
    other = "/services/T0FFFFFFF/B0EEEEEEE/AbCdEfGhIjKlMnOpQrStUvWx"
    text = scrub(f"see {other} and xoxb-1234-5678-abcdefgh and hooks.slack.com/x/y", [GENERIC])
    assert "AbCdEf" not in text and "abcdefgh" not in text and "hooks.slack" not in text


@pytest.mark.parametrize(
    "echo",
    [
        GENERIC,
        "/api/v1/webhooks/7f3e9a1c5b2d4e6f8a0b",
        "webhooks/7f3e9",
        "key=QpR4sT6uV8wX",
        "unknown key QPR4ST6UV8WX",
        "chat.example.org/api/v1/web",
    ],
)
def test_other_webhooks_lose_their_secret_segments_and_query(echo: str) -> None:
    text = scrub(f"error: {echo} (refused)", [GENERIC])
    assert leaked(text, "7f3e9a1c5b2d4e6f8a0b") == [] and leaked(text, "QpR4sT6uV8wX") == []
    assert text.startswith("error: ") and text.endswith(" (refused)")


def test_text_without_secrets_is_left_alone() -> None:
    text = "invalid_payload: blocks[0].text is too long"
    assert scrub(text, [URL, GENERIC]) == text
    assert scrub("", [URL]) == ""


def client(body: str, status: int = 400) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _request: httpx.Response(status, text=body))
    )


@pytest.mark.parametrize("cut", [3, 10, 20, 40, 60, 70])
async def test_a_url_cut_at_the_length_limit_leaves_no_prefix(cut: int) -> None:
    """The old detail was cut to 300 characters, then the whole URL replaced: a URL crossing
    the cut stayed, less its end."""
    body = "x" * (DETAIL_MAX - 1 - len(URL) + cut) + " " + URL + " tail"  # `cut` past the limit
    async with client(body) as http:
        result = await post_json(http, SecretStr(URL), {})
    assert leaked(result.detail) == [] and TEAM not in result.detail
    assert "hooks.slack.com/" not in result.detail
    assert len(result.detail) <= DETAIL_MAX + len("receiver answered 400: ")


async def test_a_receiver_echoing_the_path_leaves_nothing_in_the_detail() -> None:
    async with client(f"404 not found: {PATH}", 404) as http:
        result = await post_json(http, SecretStr(URL), {})
    assert result.reason == "url_rejected"
    assert leaked(result.detail) == [] and PATH not in result.detail
    assert "not found" in result.detail
