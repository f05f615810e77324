"""In a container every service listens beyond its loopback: the image and the Kubernetes
configuration set each service's host, or Prometheus cannot scrape it and the kubelet's probes
(on the pod's address) fail and restart it."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest

from scops.processes import ALL_SERVICES

ROOT = Path(__file__).resolve().parents[3]


def _image_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(SCOPS_[A-Z_]+)=(\S+)", line))
    return env


def _configmap_env() -> dict[str, str]:
    lines = (ROOT / "deploy/k8s/base/config.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.startswith("SCOPS_"))


@pytest.mark.parametrize("name", sorted(ALL_SERVICES))
@pytest.mark.parametrize("where", ["image", "kubernetes"])
def test_every_service_listens_on_every_interface_in_a_container(name: str, where: str) -> None:
    env = _image_env() if where == "image" else _configmap_env()
    secrets = {"SCOPS_INTERNAL_TOKEN": "0" * 64}  # a deployment's own (never the placeholder)
    with mock.patch.dict("os.environ", {**env, **secrets}):
        assert ALL_SERVICES[name].settings_class().http_host == "0.0.0.0"
