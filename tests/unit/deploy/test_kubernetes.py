"""deploy/k8s, checked without a cluster: every file a kustomization names exists, every
resource is valid against the Kubernetes schema (kubernetes-validate), containers run the
stack's commands, probes hit real paths on the right port, detector groups cover every shard
exactly once, and secrets and settings are ones that exist. Where kubectl is installed, the
example overlay is built and validated as a whole."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.observability_files import DEPLOY
from tests.support.processes import SERVICES
from tests.unit.deploy.stack_commands import HEALTH_PATHS, SETTINGS, command_error, default_port

K8S = DEPLOY / "k8s"
BASE, OVERLAY = K8S / "base", K8S / "overlays" / "example"
KUBERNETES_VERSION = "1.30"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _kustomization(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return loaded


def _env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _base_resources() -> list[dict[str, Any]]:
    return [d for name in _kustomization(BASE)["resources"] for d in _documents(BASE / name)]


def _workloads() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in _base_resources():
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc, container


def _config() -> dict[str, str]:
    (generator,) = _kustomization(BASE)["configMapGenerator"]
    return _env_file(BASE / generator["envs"][0])


def test_kustomizations_name_only_files_that_exist() -> None:
    for directory in (BASE, OVERLAY):
        kustomization = _kustomization(directory)
        for entry in kustomization.get("resources", []):
            assert (directory / entry).exists(), (directory, entry)
        for patch in kustomization.get("patches", []):
            if "path" in patch:
                assert (directory / patch["path"]).exists(), patch
        for generator in [
            *kustomization.get("configMapGenerator", []),
            *kustomization.get("secretGenerator", []),
        ]:
            for name in generator.get("envs", []) + generator.get("files", []):
                assert (directory / name).exists(), name


def test_every_resource_is_valid_kubernetes() -> None:
    files = [BASE / n for n in _kustomization(BASE)["resources"]]
    files += [OVERLAY / n for n in _kustomization(OVERLAY)["resources"] if n.endswith(".yaml")]
    for path in files:
        for doc in _documents(path):
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_containers_run_the_stack_commands_with_probes_on_real_paths() -> None:
    seen = set()
    for deployment, container in _workloads():
        args = container["args"]
        assert container["image"] == "smartcloudops", deployment["metadata"]["name"]
        assert command_error(args) is None, (deployment["metadata"]["name"], args)
        requests = container["resources"]["requests"]
        assert requests["cpu"] and requests["memory"], deployment["metadata"]["name"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        if args[0] == "worker":
            # Task metrics on SCOPS_WORKER_METRICS_PORT's default.
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/port"] == "9808"
            assert {"name": "metrics", "containerPort": 9808} in container["ports"]
            assert "exec" in container["livenessProbe"]
            seen.add("worker")
            continue
        service = args[1]
        seen.add(service)
        port = default_port(service)
        env = {e["name"]: e for e in container["env"]}
        assert env[f"SCOPS_{service.upper()}_PORT"]["value"] == str(port)
        (declared,) = container["ports"]
        assert (declared["name"], declared["containerPort"]) == ("http", port)
        probes = {k: container[k]["httpGet"] for k in ("livenessProbe", "readinessProbe")}
        assert probes["livenessProbe"]["path"] == "/health"
        assert probes["readinessProbe"]["path"] == "/ready"
        for probe in probes.values():
            assert probe["path"] in HEALTH_PATHS and probe["port"] == "http"
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
    assert seen == {*SERVICES, "worker", "collector", "history"}


def test_settings_and_secrets_exist() -> None:
    config = _config()
    assert set(config) <= SETTINGS
    (secrets,) = _kustomization(OVERLAY)["secretGenerator"]
    secret_keys = set(_env_file(OVERLAY / secrets["envs"][0]))
    for deployment, container in _workloads():
        for variable in container["env"]:
            assert variable["name"] in SETTINGS, variable
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secrets["name"]
                assert ref["key"] == variable["name"]
                assert ref.get("optional") or ref["key"] in secret_keys, ref
        (source, *_) = container["envFrom"]
        assert source["configMapRef"]["name"] == "scops-config", deployment["metadata"]["name"]
    # Services reach each other by their Service names and ports.
    services = {d["metadata"]["name"]: d for d in _base_resources() if d["kind"] == "Service"}
    for name in ("detector", "remediator", "notifier"):
        assert config[f"SCOPS_{name.upper()}_URL"] == f"http://{name}:{default_port(name)}"
        assert services[name]["spec"]["ports"][0]["port"] == default_port(name)


def test_detector_groups_split_the_shards() -> None:
    shards = int(_config()["SCOPS_METRIC_SHARDS"])
    owned: list[int] = []
    for deployment, container in _workloads():
        if container["args"] != ["serve", "detector"]:
            continue
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"
        env = {e["name"]: e.get("value") for e in container["env"]}
        owned += [int(s) for s in env["SCOPS_DETECTOR_SHARDS"].split(",")]
    assert sorted(owned) == list(range(shards)), "every shard read by exactly one replica"


def test_workers_scale_with_a_horizontal_pod_autoscaler() -> None:
    (hpa,) = [d for d in _base_resources() if d["kind"] == "HorizontalPodAutoscaler"]
    target = hpa["spec"]["scaleTargetRef"]
    workers = [d for d, c in _workloads() if c["args"][0] == "worker"]
    assert (target["kind"], target["name"]) == ("Deployment", workers[0]["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_the_example_overlay_builds() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlay is checked file by file only")
    built = subprocess.run(
        [kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    docs = [d for d in yaml.safe_load_all(built.stdout) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "smartcloudops"
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("HorizontalPodAutoscaler", "worker") in kinds
    # Generated names (hash suffixes) are what the workloads refer to.
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret")
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] != "redis":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            assert container["envFrom"][0]["configMapRef"]["name"] == config["metadata"]["name"]
            refs = {
                e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e
            }
            assert refs == {secret["metadata"]["name"]}
            assert container["image"].endswith("/smartcloudops:0.1.0")


def test_prometheus_on_kubernetes_names_jobs_as_the_rules_expect() -> None:
    """The pod scrape job turns the component label into job="scops-<component>", the name the
    rules and dashboards select on; every pod carries the labels it keeps and renames."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-kubernetes.yml").read_text())
    (job,) = config["scrape_configs"]
    relabel = {r.get("target_label"): r for r in job["relabel_configs"]}
    component = "__meta_kubernetes_pod_label_app_kubernetes_io_component"
    assert relabel["job"]["source_labels"] == [component]
    assert relabel["job"]["replacement"] == "scops-$1"
    labels = _kustomization(BASE)["labels"][0]
    assert labels["pairs"] == {"app.kubernetes.io/part-of": "smartcloudops"}
    assert labels["includeTemplates"] is True
    for deployment, container in _workloads():
        pod = deployment["spec"]["template"]["metadata"]["labels"]
        expected = "worker" if container["args"][0] == "worker" else container["args"][1]
        assert pod["app.kubernetes.io/component"] == expected


def test_promtool_accepts_the_kubernetes_configuration() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    config = DEPLOY / "prometheus" / "prometheus-kubernetes.yml"
    checked = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "kubernetes_sd_configs not found" in checked.stdout + checked.stderr:
        pytest.skip("this promtool is built without Kubernetes discovery (Debian's is)")
    assert checked.returncode == 0, checked.stdout + checked.stderr
