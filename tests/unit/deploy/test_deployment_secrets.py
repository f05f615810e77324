"""The container deployments cannot start with the placeholder internal token: the image listens
on every interface, where the services refuse it even in dev; compose says so before starting
anything, and the Kubernetes example's placeholder is refused at start."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from scops.processes import HTTP_SERVICES
from tests.support.observability_files import DEPLOY, ROOT

PROJECT_CONTAINERS = ("gateway", "detector", "remediator", "notifier", "worker")


def _image_hosts() -> dict[str, str]:
    """The SCOPS_*_HOST values the Dockerfile sets, by field name."""
    text = (ROOT / "Dockerfile").read_text()
    return {f"{m[1].lower()}_host": m[2] for m in re.finditer(r"SCOPS_(\w+)_HOST=(\S+)", text)}


def _env_file(path: str) -> dict[str, str]:
    lines = (DEPLOY / path).read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if "=" in line and not line.startswith("#")]
    return {key.removeprefix("SCOPS_").lower(): value for key, value in pairs}


def test_compose_will_not_start_without_an_internal_token() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in PROJECT_CONTAINERS:
        value = compose["services"][name]["environment"]["SCOPS_INTERNAL_TOKEN"]
        assert value.startswith("${SCOPS_INTERNAL_TOKEN:?"), name


@pytest.mark.parametrize("service", list(HTTP_SERVICES))
def test_the_image_with_the_placeholder_token_is_refused_even_in_dev(service: str) -> None:
    cls = HTTP_SERVICES[service].settings_class
    hosts: dict[str, Any] = {k: v for k, v in _image_hosts().items() if k in cls.model_fields}
    assert hosts, service
    with pytest.raises(ValidationError, match="SCOPS_INTERNAL_TOKEN is the placeholder"):
        cls(_env_file=None, env="dev", **hosts)
    assert cls(
        _env_file=None, env="dev", internal_token="9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c", **hosts
    )


@pytest.mark.parametrize("service", list(HTTP_SERVICES))
def test_the_kubernetes_example_left_unedited_is_refused(service: str) -> None:
    values: dict[str, Any] = {
        **_env_file("k8s/base/config.env"),
        **_env_file("k8s/overlays/example/secrets.example.env"),
    }
    cls = HTTP_SERVICES[service].settings_class
    known = {k: v for k, v in values.items() if k in cls.model_fields}
    with pytest.raises(ValidationError, match="SCOPS_INTERNAL_TOKEN"):
        cls(_env_file=None, **known)
