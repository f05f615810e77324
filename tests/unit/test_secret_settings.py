"""A service refuses to start on a secret anyone could guess: empty, whitespace, the placeholder,
or (for what requests are checked against) shorter than 32 bytes outside dev and test; and in
dev the placeholder token only while the service listens on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from scops.config_errors import describe
from services.detector.config import DetectorSettings
from services.gateway.config import GatewaySettings
from services.notifier.config import NotifierSettings
from services.remediator.config import RemediatorSettings
from shared.secret_rules import is_loopback
from shared.settings import BaseServiceSettings

STRONG = "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c"  # 32 bytes
SETTINGS = [GatewaySettings, DetectorSettings, RemediatorSettings, NotifierSettings]
WEAK_TOKENS = {
    "empty": "",
    "whitespace": " \t ",
    "placeholder": "change-me",
    "placeholder padded to length": "change-me-change-me-change-me-change-me",
    "31 bytes": STRONG[:31],
}


def build(cls: type[BaseServiceSettings], **values: Any) -> BaseServiceSettings:
    """Settings from these values only (no .env file of the machine running the tests)."""
    return cls(_env_file=None, **values)


def refusal(cls: type[BaseServiceSettings], **values: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        build(cls, **values)
    line = describe(refused.value)
    assert line is not None
    return line


@pytest.mark.parametrize("cls", SETTINGS)
@pytest.mark.parametrize("env", ["prod", "staging"])
@pytest.mark.parametrize("case", list(WEAK_TOKENS))
def test_every_service_refuses_a_weak_internal_token_outside_dev(
    cls: type[BaseServiceSettings], env: str, case: str
) -> None:
    line = refusal(cls, env=env, internal_token=WEAK_TOKENS[case])
    assert "SCOPS_INTERNAL_TOKEN" in line
    assert "\n" not in line
    if case == "31 bytes":
        assert "31 bytes" in line and STRONG[:31] not in line


@pytest.mark.parametrize("cls", SETTINGS)
def test_a_32_byte_token_starts_in_prod(cls: type[BaseServiceSettings]) -> None:
    assert build(cls, env="prod", internal_token=STRONG)


@pytest.mark.parametrize("case", list(WEAK_TOKENS))
def test_the_gateway_refuses_a_weak_slack_signing_secret_outside_dev(case: str) -> None:
    line = refusal(
        GatewaySettings, env="prod", internal_token=STRONG, slack_signing_secret=WEAK_TOKENS[case]
    )
    assert "SCOPS_SLACK_SIGNING_SECRET" in line and "SCOPS_INTERNAL_TOKEN" not in line


def test_an_unset_slack_signing_secret_is_no_slack_not_a_weak_one() -> None:
    settings = build(GatewaySettings, env="prod", internal_token=STRONG)
    assert isinstance(settings, GatewaySettings) and settings.slack_signing_secret is None


@pytest.mark.parametrize("value", ["", "   ", "change-me"])
@pytest.mark.parametrize(
    ("cls", "field", "extra"),
    [
        (GatewaySettings, "chatops_llm_api_key", {}),
        (NotifierSettings, "slack_webhook_url", {}),
        (RemediatorSettings, "aws_secret_access_key", {"aws_access_key_id": "AKIAEXAMPLE"}),
    ],
)
def test_other_credentials_may_not_be_empty_or_the_placeholder_in_prod(
    cls: type[BaseServiceSettings], field: str, extra: dict[str, str], value: str
) -> None:
    line = refusal(cls, env="prod", internal_token=STRONG, **{field: value}, **extra)
    assert f"SCOPS_{field.upper()}" in line


def test_a_short_provider_key_is_the_providers_business() -> None:
    settings = build(GatewaySettings, env="prod", internal_token=STRONG, chatops_llm_api_key="sk-1")
    assert isinstance(settings, GatewaySettings) and settings.chatops_llm_api_key is not None


@pytest.mark.parametrize("env", ["dev", "test"])
@pytest.mark.parametrize("token", ["", "  "])
def test_an_empty_internal_token_is_refused_even_in_dev(env: str, token: str) -> None:
    assert "SCOPS_INTERNAL_TOKEN" in refusal(GatewaySettings, env=env, internal_token=token)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
@pytest.mark.parametrize("cls", SETTINGS)
def test_the_placeholder_token_starts_in_dev_on_loopback(
    cls: type[BaseServiceSettings], host: str
) -> None:
    field = f"{cls.__name__.removesuffix('Settings').lower()}_host"
    assert build(cls, env="dev", **{field: host})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "scops.example.com"])
@pytest.mark.parametrize("cls", SETTINGS)
def test_the_placeholder_token_is_refused_in_dev_on_any_other_address(
    cls: type[BaseServiceSettings], host: str
) -> None:
    field = f"{cls.__name__.removesuffix('Settings').lower()}_host"
    line = refusal(cls, env="dev", **{field: host})
    assert "SCOPS_INTERNAL_TOKEN" in line and f"SCOPS_{field.upper()}={host}" in line


def test_the_worker_metrics_address_counts_too() -> None:
    line = refusal(RemediatorSettings, env="dev", worker_metrics_host="0.0.0.0")
    assert "SCOPS_WORKER_METRICS_HOST=0.0.0.0" in line


def test_a_real_token_may_listen_anywhere_in_dev() -> None:
    assert build(GatewaySettings, env="dev", gateway_host="0.0.0.0", internal_token="dev-token")


def test_every_refusal_is_one_line_naming_each_setting_without_its_value() -> None:
    line = refusal(
        GatewaySettings,
        env="prod",
        internal_token="short-secret-value",
        slack_signing_secret="also-short-value",
    )
    assert "\n" not in line
    assert "SCOPS_INTERNAL_TOKEN" in line and "SCOPS_SLACK_SIGNING_SECRET" in line
    assert "short-secret-value" not in line and "also-short-value" not in line
    assert "errors.pydantic.dev" not in line


def test_a_field_refusal_names_the_variable_in_one_line_too() -> None:
    line = refusal(GatewaySettings, env="prod", internal_token=STRONG, gateway_port=70_000)
    assert line.startswith("invalid configuration (GatewaySettings): SCOPS_GATEWAY_PORT: ")
    assert "\n" not in line and "70000" not in line


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.255.0.9", "::1", "localhost", "LOCALHOST"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.0.1", "", "127.0.0.1.nip.io"]))


def test_describe_leaves_other_errors_alone() -> None:
    assert describe(RuntimeError("boom")) is None
