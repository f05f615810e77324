"""Notifier settings (``SCOPS_`` variables, see the README's configuration table and
docs/notifier.md for receivers, routes and grouping)."""

from __future__ import annotations

from typing import cast, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from services.notifier.core.alerts import Timing
from services.notifier.core.render import Channel
from services.notifier.core.render.links import check_template
from services.notifier.core.routing import GroupLabel, Route
from shared.aws_settings import AwsSettings

DEFAULT_RECEIVER = "slack"


class ReceiverConfig(BaseModel):
    """A destination besides the default Slack webhook. Its URL is a secret: give it inline
    (``url``) or, better, as a Parameter Store SecureString (``parameter``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    type: Channel = Channel.WEBHOOK
    url: SecretStr | None = None
    parameter: str | None = Field(None, description="SSM parameter holding the URL.")
    rate_per_s: float | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _has_a_url(self) -> ReceiverConfig:
        if self.url is None and self.parameter is None:
            raise ValueError(f"receiver {self.name!r} needs a url or a parameter")
        if self.url is not None and not self.url.get_secret_value().strip():
            raise ValueError(f"receiver {self.name!r} has an empty url")
        return self


class NotifierSettings(AwsSettings):
    notifier_host: str = Field("127.0.0.1", description="Notifier listen address.")
    notifier_port: int = Field(8003, ge=1, le=65535, description="Notifier HTTP port.")
    slack_webhook_url: SecretStr | None = Field(
        None,
        description="Slack incoming webhook, used when the Parameter Store has none; "
        "unset too: messages go to the local outbox.",
    )
    slack_webhook_parameter: str = Field(
        "/smartcloudops/{env}/slack/webhook",
        description="SSM SecureString with the Slack webhook URL (read when SCOPS_AWS_REGION "
        "is set).",
    )
    webhook_url_cache_s: float = Field(
        300.0, ge=0, description="How long a webhook URL read from Parameter Store is reused."
    )
    delivery_attempts: int = Field(5, ge=1, le=20, description="Tries per message.")
    delivery_timeout_s: float = Field(10.0, gt=0, description="HTTP timeout per try.")
    retry_base_s: float = Field(
        0.5, gt=0, description="First wait between tries; doubles each try, with jitter."
    )
    retry_max_wait_s: float = Field(30.0, gt=0, description="Longest wait between tries.")
    retry_after_max_s: float = Field(
        900.0, gt=0, description="Longest Retry-After (429) honoured before the next try."
    )
    throttled_max_s: float = Field(
        3600.0,
        gt=0,
        description="How long a message the receiver throttles (429) waits for its turn, in "
        "all, before it is dead-lettered; throttled tries do not count against "
        "SCOPS_DELIVERY_ATTEMPTS.",
    )
    webhook_rate_per_s: float = Field(
        1.0, gt=0, le=100, description="Messages per second per receiver (all replicas)."
    )
    group_wait_s: float = Field(
        10.0, ge=0, description="A new group waits this long to collect alerts before speaking."
    )
    group_interval_s: float = Field(
        120.0, ge=0, description="A group that changed waits this long after its last message."
    )
    repeat_interval_s: float = Field(
        14_400.0, gt=0, description="A group with unacknowledged firing alerts repeats after this."
    )
    group_by: str = Field(
        "metric",
        description="Comma-separated: what groups alerts (resource_id, metric, severity).",
    )
    alert_ttl_s: float = Field(
        43_200.0, gt=0, description="An alert with no event for this long is forgotten."
    )
    notify_receivers: list[ReceiverConfig] = Field(
        default=[], description="JSON list of extra receivers {name, type, url or parameter}."
    )
    notify_routes: list[Route] = Field(
        default=[],
        description="JSON list of routes {match, receivers, continue, group_by, timings}.",
    )
    grafana_url_template: str | None = Field(
        None, description="Link to a Grafana panel; placeholders {resource_id}, {metric}..."
    )
    record_url_template: str | None = Field(
        None, description="Link to the anomaly's record; placeholders {anomaly_id}..."
    )
    console_public_url: str | None = Field(
        None,
        description="Where people open the operator console, e.g. "
        "https://scops.example.com/console; links in Slack messages and ChatOps answers go to "
        "its incident pages (<url>/incidents/<id>). Unset: no links.",
    )
    history_size: int = Field(1000, ge=10, description="Deliveries kept for GET /notifications.")
    outbox_size: int = Field(1000, ge=10, description="Messages kept in the local outbox.")
    dead_letter_maxlen: int = Field(
        100_000, ge=100, description="Approximate cap of the notifications' dead-letter stream."
    )

    @field_validator("group_by")
    @classmethod
    def _group_labels(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = set(names) - set(get_args(GroupLabel))
        if unknown:
            raise ValueError(f"unknown group labels {sorted(unknown)}")
        return ",".join(names)

    @field_validator("console_public_url")
    @classmethod
    def _console_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("grafana_url_template", "record_url_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        return check_template(value)

    @model_validator(mode="after")
    def _consistent(self) -> NotifierSettings:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("set both SCOPS_AWS_ACCESS_KEY_ID and SCOPS_AWS_SECRET_ACCESS_KEY")
        names = [r.name for r in self.notify_receivers]
        if DEFAULT_RECEIVER in names or len(set(names)) != len(names):
            raise ValueError(f"receiver names must be unique and not {DEFAULT_RECEIVER!r}")
        for receiver in self.notify_receivers:
            if receiver.url is None and self.aws_region is None:
                raise ValueError(
                    f"receiver {receiver.name!r} reads its URL from Parameter Store: "
                    "set SCOPS_AWS_REGION (or give it a url)"
                )
        known = {DEFAULT_RECEIVER, *names}
        for route in self.notify_routes:
            unknown = set(route.receivers) - known
            if unknown:
                raise ValueError(f"route names unknown receivers {sorted(unknown)}")
        return self

    @property
    def http_host(self) -> str:
        return self.notifier_host

    @property
    def http_port(self) -> int:
        return self.notifier_port

    @property
    def timing(self) -> Timing:
        return Timing(
            group_wait_s=self.group_wait_s,
            group_interval_s=self.group_interval_s,
            repeat_interval_s=self.repeat_interval_s,
        )

    @property
    def group_labels(self) -> list[GroupLabel]:
        return [cast(GroupLabel, n) for n in self.group_by.split(",") if n]

    @property
    def aws_configured(self) -> bool:
        return self.aws_region is not None
