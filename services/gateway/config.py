"""Gateway settings (``SCOPS_`` variables, see the README's configuration table)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from services.gateway.people import People
from shared.secret_rules import VERIFIER
from shared.settings import BaseServiceSettings

SlackRole = Literal["viewer", "operator", "admin"]
SLACK_TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,}")
SLACK_USER_KEY = re.compile(r"(?:[TE][A-Z0-9]{2,}:)?[UW][A-Z0-9]{2,}")


class GatewaySettings(BaseServiceSettings):
    gateway_host: str = Field("127.0.0.1", description="Gateway listen address.")
    gateway_port: int = Field(8000, ge=1, le=65535, description="Gateway HTTP port.")
    max_batch_samples: int = Field(
        5000, ge=1, le=100_000, description="Most samples accepted in one POST /v1/metrics."
    )
    detector_url: str = Field("http://127.0.0.1:8001", description="Where the detector listens.")
    # NoDecode: the environment's text reaches ``_url_list`` as it is (read as JSON first, a
    # comma-separated list stopped the gateway at start).
    detector_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="JSON list (or comma-separated) of the detector processes, when several split "
        "the metric shards: "
        "process i owns shards i, i+N, ... (N processes; its SCOPS_DETECTOR_SHARDS). Calls about "
        "a series go to its owner. Empty: SCOPS_DETECTOR_URL alone.",
    )
    remediator_url: str = Field(
        "http://127.0.0.1:8002", description="Where the remediator listens."
    )
    notifier_url: str = Field("http://127.0.0.1:8003", description="Where the notifier listens.")
    history_url: str = Field(
        "http://127.0.0.1:8005", description="Where the history service listens."
    )
    proxy_timeout_s: float = Field(10.0, gt=0, description="Timeout of a call to a backend.")
    proxy_costly_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Timeout of a call to a backend on the costly forwarded endpoints (the "
        "largest batch scoring request takes seconds of CPU, more on a busy machine).",
    )
    ingest_rate_per_min: int = Field(
        6000, ge=1, description="Requests per minute per API key on the ingest endpoints."
    )
    chatops_rate_per_min: int = Field(
        60, ge=1, description="Requests per minute per API key (or Slack user) on ChatOps."
    )
    proxy_rate_per_min: int = Field(
        600,
        ge=1,
        description="Requests per minute per API key on the endpoints the gateway forwards to "
        "the detector, remediator and notifier.",
    )
    proxy_costly_rate_per_min: int = Field(
        10,
        ge=1,
        description="Requests per minute per API key on the costly forwarded endpoints "
        "(POST /anomaly/batch, POST /anomaly/train); counted apart from the others.",
    )
    slack_signing_secret: Annotated[SecretStr | None, VERIFIER] = Field(
        None,
        description="Slack app signing secret; unset: the Slack endpoints refuse all. Outside "
        "dev and test it must be at least 32 bytes (Slack's are).",
    )
    anomaly_index_days: int = Field(
        14, ge=1, description="How long GET /anomalies remembers an anomaly."
    )
    chatops_history_turns: int = Field(
        50, ge=1, le=1000, description="ChatOps turns kept per user (older ones are dropped)."
    )
    chatops_history_ttl_s: int = Field(
        7 * 86400, ge=60, description="A user's ChatOps history expires this long after use."
    )
    chatops_warm_start: bool = Field(
        True,
        description="Train the ChatOps classifier in the background as the gateway starts; "
        "false: when the first ChatOps message needs it (that message waits a few seconds; "
        "for gateways that only ingest). The gateway is ready before it either way.",
    )
    chatops_llm_url: str | None = Field(
        None,
        description="OpenAI-compatible API base URL (e.g. https://api.openai.com/v1) that maps "
        "free text onto ChatOps intents; unset: deterministic parser only.",
    )
    chatops_llm_api_key: SecretStr | None = Field(
        None, description="API key of the ChatOps LLM endpoint (sent as a bearer token)."
    )
    chatops_llm_model: str = Field("gpt-4o-mini", description="Model asked by ChatOps.")
    chatops_llm_timeout_s: float = Field(
        8.0, gt=0, le=60, description="Timeout of one ChatOps LLM call."
    )
    chatops_llm_may_act: bool = Field(
        False,
        description="Run actions the LLM understood (still with every role and safety check); "
        "false: answer with the exact command to send instead.",
    )
    slack_user_roles: dict[str, SlackRole] = Field(
        {},
        description='JSON object of Slack user id to role, e.g. {"U012AB3CD": "operator"}; '
        'a key "T012AB:U012AB3CD" (workspace or Enterprise Grid org, then user) holds only '
        "there; unknown users are viewers.",
    )
    slack_team_ids: list[str] = Field(
        [],
        description="JSON list of the Slack workspaces (T...) or Enterprise Grid orgs (E...) "
        'whose commands and buttons are answered, e.g. ["T012AB"]; a request from any other '
        "is refused, whatever its user id. Empty: every workspace the app is installed in.",
    )
    people: dict[str, list[str]] = Field(
        {},
        description="JSON object of person to the Slack users and key owners that are that "
        'person, e.g. {"ana": ["slack:T012AB:U012CD", "owner:ana-ci"]}: approvals count '
        "people, so these approve once together (a key's owner is a person by itself).",
    )
    slack_inline_budget_s: float = Field(
        2.0,
        ge=0,
        le=2.8,
        description="A slash command finished within this is answered inline; later answers "
        "go to Slack's response_url.",
    )
    slack_response_url_prefix: str = Field(
        "https://hooks.slack.com/",
        description="Only response_url values starting with this are posted to.",
    )
    console_public_url: str | None = Field(
        None,
        description="Where people open the operator console, e.g. "
        "https://scops.example.com/console; links in Slack messages and ChatOps answers go to "
        "its incident pages (<url>/incidents/<id>). Unset: no links.",
    )
    console_session_ttl_s: int = Field(
        8 * 3600,
        ge=300,
        le=7 * 86400,
        description="A console sign-in lasts this long (the session is kept in Redis).",
    )

    remote_write_resource_labels: list[str] = Field(
        ["instance", "pod", "job"],
        min_length=1,
        description="POST /api/v1/write: the first of these labels a Prometheus series carries "
        "names its resource (resource_id); a series with none of them is dropped.",
    )
    remote_write_keep_labels: list[str] = Field(
        ["job", "instance", "namespace", "pod", "container"],
        description="POST /api/v1/write: the labels kept on each sample (the others are "
        "dropped; at most 32 travel).",
    )
    remote_write_name_labels: list[str] = Field(
        ["quantile"],
        description="POST /api/v1/write: labels whose value is appended to the metric name "
        "(name:value), so series differing only in them stay apart.",
    )
    remote_write_include_metrics: str | None = Field(
        None,
        description="POST /api/v1/write: regex a metric name must fully match to be kept; "
        "unset: every name.",
    )
    remote_write_exclude_metrics: str | None = Field(
        None, description="POST /api/v1/write: regex of metric names dropped (full match)."
    )
    remote_write_include_labels: dict[str, str] = Field(
        {},
        description='POST /api/v1/write: JSON object of label to regex, e.g. {"job": '
        '"node|api"}; a series is kept only if every one fully matches (missing label: "").',
    )
    remote_write_exclude_labels: dict[str, str] = Field(
        {},
        description="POST /api/v1/write: JSON object of label to regex; a series whose label "
        "fully matches any of them is dropped.",
    )
    remote_write_counter_suffixes: list[str] = Field(
        ["_total", "_sum", "_count"],
        description="POST /api/v1/write: names ending so are counters (sent as per-second "
        "rates named name:rate) unless Prometheus' metadata says gauge.",
    )
    remote_write_counter_state_ttl_s: int = Field(
        3600,
        ge=60,
        description="POST /api/v1/write: how long the last point of a counter is kept in Redis "
        "to compute its next rate.",
    )
    remote_write_max_decoded_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="POST /api/v1/write: largest WriteRequest accepted once uncompressed.",
    )
    remote_write_max_backlog: float = Field(
        0.8,
        gt=0,
        le=1,
        description="POST /api/v1/write answers 503 while the detector's unread backlog on a "
        "metrics shard is above this fraction of SCOPS_STREAM_MAXLEN (before trimming would "
        "lose samples).",
    )

    @field_validator(
        "remote_write_include_metrics",
        "remote_write_exclude_metrics",
        "remote_write_include_labels",
        "remote_write_exclude_labels",
    )
    @classmethod
    def _regexes_compile(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        for pattern in value.values() if isinstance(value, dict) else [value]:
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("slack_user_roles")
    @classmethod
    def _slack_user_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not SLACK_USER_KEY.fullmatch(key):
                raise ValueError(
                    f"{key!r} is no Slack member id: U012AB3CD (or W...), or T012AB:U012AB3CD "
                    "for that user in that workspace or org only (profile -> Copy member ID)"
                )
        return value

    @field_validator("slack_team_ids")
    @classmethod
    def _slack_team_ids(cls, value: list[str]) -> list[str]:
        for team in value:
            if not SLACK_TEAM_ID.fullmatch(team):
                raise ValueError(f"{team!r} is no Slack workspace (T...) or org (E...) id")
        return value

    @field_validator("people")
    @classmethod
    def _people_unambiguous(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        People(value)  # raises on a malformed or ambiguous mapping
        return value

    @field_validator("console_public_url")
    @classmethod
    def _console_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("chatops_llm_url")
    @classmethod
    def _llm_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @property
    def chatops_llm_enabled(self) -> bool:
        return self.chatops_llm_url is not None

    @field_validator("detector_urls", mode="before")
    @classmethod
    def _url_list(cls, value: object) -> object:
        """A JSON list, or URLs separated by commas (as the detector's shard list is)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [url.strip() for url in text.split(",") if url.strip()]
        return value

    @property
    def detector_processes(self) -> list[str]:
        """Every detector process, in shard-ownership order."""
        return [url.rstrip("/") for url in self.detector_urls] or [self.detector_url]

    @property
    def http_host(self) -> str:
        return self.gateway_host

    @property
    def http_port(self) -> int:
        return self.gateway_port
