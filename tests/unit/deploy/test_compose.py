"""docker-compose.yml, checked without Docker: the services of `make up` with the same commands
and settings, a health check each, profiles for the optional parts, files that exist, and
ports and addresses that agree with the Prometheus, Alertmanager and Grafana configuration."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.support.observability_files import DEPLOY, ROOT
from tests.support.processes import SERVICES
from tests.unit.deploy.stack_commands import SETTINGS, command_error, default_port

CORE = {"redis", *SERVICES, "worker", "history", "postgres"}
OPTIONAL = {
    "prometheus": "observability",
    "alertmanager": "observability",
    "grafana": "observability",
    "moto": "aws",
    "collector": "aws",
}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_the_whole_stack_is_there_with_optional_parts_in_profiles() -> None:
    services = _compose()["services"]
    assert set(services) == CORE | set(OPTIONAL)
    for name in CORE:
        assert "profiles" not in services[name], f"{name} must start with a plain `up`"
    for name, profile in OPTIONAL.items():
        assert profile in services[name]["profiles"] and "full" in services[name]["profiles"]


def test_project_containers_run_the_commands_of_make_up() -> None:
    services = _compose()["services"]
    for name in [*SERVICES, "worker"]:
        service = services[name]
        assert service["build"] == "." and service["image"] == "smartcloudops:latest", name
        assert command_error(service["command"]) is None, (name, command_error(service["command"]))
    for name in SERVICES:
        assert services[name]["command"] == ["serve", name]


def test_every_container_has_a_health_check_on_its_own_port() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        test = " ".join(service["healthcheck"]["test"])
        assert service["healthcheck"]["test"][0] == "CMD", name
        if name in SERVICES:
            assert f"127.0.0.1:{default_port(name)}/ready" in test, name


def test_settings_are_real_settings() -> None:
    services = _compose()["services"]
    for name in [*SERVICES, "worker"]:
        for variable in services[name]["environment"]:
            assert variable in SETTINGS, (name, variable)
    # The addresses the gateway uses are the compose service names and default ports.
    gateway_env = services["gateway"]["environment"]
    for name in ("detector", "remediator", "notifier"):
        url = f"http://{name}:{default_port(name)}"
        assert gateway_env[f"SCOPS_{name.upper()}_URL"] == url


def test_depends_on_and_secrets_refer_to_what_exists() -> None:
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        for other in service.get("depends_on", {}):
            assert other in services, (name, other)
        for secret in service.get("secrets", []):
            assert secret["source"] in compose["secrets"], (name, secret)
    for volume in [v for s in services.values() for v in s.get("volumes", [])]:
        source = volume.split(":", 1)[0]
        if not source.startswith("./"):
            assert source in compose["volumes"], volume


def test_mounted_files_exist() -> None:
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume


def test_third_party_images_are_pinned() -> None:
    for name, service in _compose()["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), name


def test_prometheus_alertmanager_and_grafana_agree_with_compose() -> None:
    services = _compose()["services"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in prometheus["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    for name in SERVICES:
        assert targets[f"scops-{name}"] == f"{name}:{default_port(name)}"
    (alertmanager_target,) = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0][
        "targets"
    ]
    assert alertmanager_target.split(":")[0] in services
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    hook = config["receivers"][0]["webhook_configs"][0]
    assert hook["url"].startswith(f"http://gateway:{default_port('gateway')}/")
    secret = services["alertmanager"]["secrets"][0]
    assert secret["target"] == hook["http_config"]["authorization"]["credentials_file"]
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    mounts = services["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in mounts
    assert prometheus["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_the_image_carries_the_files_its_default_settings_read() -> None:
    from services.remediator.config import RemediatorSettings

    lines = (ROOT / "Dockerfile").read_text().splitlines()
    runtime = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    (workdir,) = [line.split()[1] for line in runtime if line.startswith("WORKDIR ")]
    copied = {line.split()[-1] for line in runtime if line.startswith("COPY ")}
    fields = RemediatorSettings.model_fields
    for name in ("rules_path", "script_catalogue_path"):
        default = fields[name].default
        assert not default.is_absolute() and (ROOT / default).exists()
        assert f"{workdir}/{default.parent}" in copied, name
    assert next(line.split(maxsplit=1) for line in runtime if line.startswith("ENTRYPOINT")) == [
        "ENTRYPOINT",
        '["scops"]',
    ]
