"""AWS settings shared by the services that call AWS (the remediator and the notifier)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import BaseServiceSettings


class AwsSettings(BaseServiceSettings):
    aws_region: str | None = Field(
        None, description="AWS region; unset: AWS is not configured (dry-run executor)."
    )
    aws_endpoint_url: str | None = Field(
        None, description="Another AWS API endpoint (e.g. a local test server)."
    )
    aws_access_key_id: SecretStr | None = Field(
        None, description="AWS key id; unset: the standard credential chain (instance role)."
    )
    aws_secret_access_key: SecretStr | None = Field(
        None, description="AWS secret key, with SCOPS_AWS_ACCESS_KEY_ID."
    )
