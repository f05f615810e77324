"""Action parameters are matched against allow lists, wherever they come from (a rule filled
from alert labels, a manual request): cleanup_disk cleans only plain absolute paths at or under a
cleanable root, restart_service restarts only .service units outside a floor no configuration
lifts, and the script catalogue file configures both, checked at load with line and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.remediator.core.actions.catalogue import ScriptCatalogue, load_catalogue
from services.remediator.core.actions.registry import ActionRegistry, build_registry
from services.remediator.core.rules.loading import load_rules_text
from services.remediator.core.rules.matching import RemediationEngine
from services.remediator.errors import RulesFileError
from tests.support.remediator_fixtures import AnomalyFactory


def refusal(registry: ActionRegistry, action: str, **params: Any) -> str:
    with pytest.raises(ValidationError) as info:
        registry[action].parse(params)
    (error,) = info.value.errors()
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


def catalogue_with(tmp_path: Path, extra: str) -> ScriptCatalogue:
    path = tmp_path / "catalogue.yaml"
    path.write_text("version: 1\nscripts: {}\n" + extra)
    return load_catalogue(path)


def catalogue_refusal(tmp_path: Path, extra: str) -> RulesFileError:
    with pytest.raises(RulesFileError) as info:
        catalogue_with(tmp_path, extra)
    return info.value


# --- cleanup_disk ------------------------------------------------------------------------

ROOT_IN_DISGUISE = ["/.", "//etc", "/etc/.", "/./usr", "/var/log/../../etc", "/tmp/./x"]
NOT_PLAIN = {
    "/": "the root file system",
    "": "empty",
    "tmp": "not absolute",
    "/tmp/": "ends with '/'",
    "/tmp//x": "empty segment",
    "/tmp/x/..": "'..' segment",
    "/tmp/x\x00y": "control character",
    "/tmp/x\nrm -rf /": "control character",
    "/tmp/$(reboot)": "characters other than",
    "/tmp/a b": "characters other than",
    "/tmp/*": "characters other than",
}
OUTSIDE_THE_ROOTS = ["/etc", "/var", "/var/lib/mysql", "/home/ubuntu", "/tmpfoo", "/usr/tmp"]


@pytest.mark.parametrize("path", ROOT_IN_DISGUISE)
def test_paths_that_spell_a_system_directory_in_disguise_are_refused(
    registry: ActionRegistry, path: str
) -> None:
    message = refusal(registry, "cleanup_disk", paths=["/var/log/app", path])
    assert message.startswith("paths: Value error, path ")
    assert repr(path) in message
    assert "plain absolute path" in message


@pytest.mark.parametrize(("path", "why"), NOT_PLAIN.items())
def test_paths_that_are_not_plain_absolute_paths_are_refused_saying_why(
    registry: ActionRegistry, path: str, why: str
) -> None:
    message = refusal(registry, "cleanup_disk", paths=[path])
    assert repr(path) in message
    assert why in message


@pytest.mark.parametrize("path", OUTSIDE_THE_ROOTS)
def test_paths_outside_the_cleanable_roots_are_refused(registry: ActionRegistry, path: str) -> None:
    message = refusal(registry, "cleanup_disk", paths=[path])
    assert f"path {path!r} is not under a cleanable root (/tmp, /var/tmp, /var/log)" in message


@pytest.mark.parametrize(
    "path",
    ["/tmp", "/var/tmp", "/var/log", "/var/log/nginx", "/tmp/app-1/cache.d", "/var/log/x..y"],
)
def test_plain_paths_at_or_under_a_default_root_are_cleaned(
    registry: ActionRegistry, path: str
) -> None:
    params = registry["cleanup_disk"].parse({"paths": [path]})
    assert params.paths == [path]


def test_the_cleanup_command_never_follows_a_symlink_to_its_start(
    registry: ActionRegistry,
) -> None:
    definition = registry["cleanup_disk"]
    assert definition.shell is not None
    plan = definition.shell(definition.parse({"paths": ["/var/log/app"]}))
    (clean,) = [c for c in plan.commands if "find" in c]
    assert "[ -d /var/log/app ] && [ ! -L /var/log/app ]" in clean
    assert '[ "$(readlink -f -- /var/log/app)" = /var/log/app ]' in clean
    assert "find -P /var/log/app -xdev -type f" in clean


def test_configured_cleanable_roots_replace_the_defaults(tmp_path: Path) -> None:
    catalogue = catalogue_with(tmp_path, "cleanable_paths: [/var/log, /srv/app/logs]\n")
    registry = build_registry(catalogue)
    assert registry["cleanup_disk"].parse({"paths": ["/srv/app/logs/old"]}).paths == [
        "/srv/app/logs/old"
    ]
    message = refusal(registry, "cleanup_disk", paths=["/tmp"])
    assert "path '/tmp' is not under a cleanable root (/var/log, /srv/app/logs)" in message
    # The default paths are checked too: they are not cleanable here.
    assert "'/tmp'" in refusal(registry, "cleanup_disk")


@pytest.mark.parametrize(
    ("root", "why"),
    [
        ("/", "the root file system"),
        ("/etc", "is a system directory"),
        ("/var", "is a system directory"),
        ("/var/lib", "is a system directory"),
        ("/usr/local/logs", "lies inside the system directory /usr"),
        ("/var/log/", "ends with '/'"),
        ("var/log", "not absolute"),
        ("/var/./log", "'.' segment"),
    ],
)
def test_a_catalogue_cannot_make_a_system_directory_cleanable(
    tmp_path: Path, root: str, why: str
) -> None:
    error = catalogue_refusal(tmp_path, f"cleanable_paths:\n  - /tmp\n  - '{root}'\n")
    (problem,) = error.problems
    assert (problem.line, problem.path) == (5, "cleanable_paths[1]")
    assert why in problem.reason


# --- restart_service ---------------------------------------------------------------------

NEVER_RESTARTED = {
    "poweroff.target": "only .service units",
    "reboot.target": "only .service units",
    "halt.target": "only .service units",
    "rescue.target": "only .service units",
    "emergency.target": "only .service units",
    "ctrl-alt-del.target": "only .service units",
    "dbus.socket": "only .service units",
    "home.mount": "only .service units",
    "systemd-logind": "matches systemd-*",
    "systemd-journald.service": "matches systemd-*",
    "sshd": "matches ssh*",
    "ssh.service": "matches ssh*",
    "dbus": "matches dbus*",
    "getty@tty1.service": "matches getty*",
    "user@1000": "matches user@*",
    "amazon-ssm-agent": "matches amazon-ssm-agent*",
    # other names of the same units, or units that keep the machine reachable
    "messagebus": "matches messagebus*",  # D-Bus on Red Hat-like systems
    "MessageBus.service": "matches messagebus*",
    "ifup@eth0": "matches ifup@*",  # Debian's per-interface unit
    "wicked": "matches wicked*",  # SUSE's network service
    "ec2-instance-connect": "matches ec2-instance-connect*",
}


@pytest.mark.parametrize(("unit", "why"), NEVER_RESTARTED.items())
def test_units_outside_the_floor_are_never_restarted(
    registry: ActionRegistry, unit: str, why: str
) -> None:
    message = refusal(registry, "restart_service", service=unit)
    assert message.startswith(f"service: Value error, unit {unit}")
    assert why in message


@pytest.mark.parametrize("unit", ["-Hroot@10.0.0.1", "--force", "nginx; reboot", "ng*", ""])
def test_unit_names_that_are_options_or_shell_text_are_refused(
    registry: ActionRegistry, unit: str
) -> None:
    assert refusal(registry, "restart_service", service=unit).startswith("service: ")


@pytest.mark.parametrize(
    ("unit", "restarted"),
    [
        ("nginx", "nginx.service"),
        ("nginx.service", "nginx.service"),
        ("app-web", "app-web.service"),
        ("worker@2", "worker@2.service"),
        ("node.api", "node.api.service"),
    ],
)
def test_service_units_are_restarted_by_their_full_name(
    registry: ActionRegistry, unit: str, restarted: str
) -> None:
    definition = registry["restart_service"]
    assert definition.shell is not None
    plan = definition.shell(definition.parse({"service": unit}))
    assert f"systemctl restart {restarted}" in plan.commands
    assert f"systemctl is-active {restarted}" in plan.commands


def test_configured_restartable_units_are_the_only_ones(tmp_path: Path) -> None:
    text = "restartable_units: [nginx, 'app-*', gunicorn.service]\n"
    registry = build_registry(catalogue_with(tmp_path, text))
    for unit in ("nginx", "nginx.service", "app-web", "gunicorn"):
        registry["restart_service"].parse({"service": unit})
    message = refusal(registry, "restart_service", service="postgresql")
    assert "unit postgresql.service is not a restartable unit (nginx, app-*, gunicorn.service)" in (
        message
    )
    assert "matches ssh*" in refusal(registry, "restart_service", service="sshd")


@pytest.mark.parametrize(
    ("glob", "why"),
    [
        ("sshd", "matches ssh*"),
        ("systemd-logind.service", "matches systemd-*"),
        ("poweroff.target", "only .service units"),
        ("app.socket", "only .service units"),
        ("nginx; reboot", "letters, digits"),
    ],
)
def test_a_catalogue_cannot_make_the_floor_restartable(tmp_path: Path, glob: str, why: str) -> None:
    error = catalogue_refusal(tmp_path, f"restartable_units:\n  - nginx\n  - '{glob}'\n")
    (problem,) = error.problems
    assert (problem.line, problem.path) == (5, "restartable_units[1]")
    assert why in problem.reason


# --- through the rules: values filled from alert labels ----------------------------------

LABELLED_RULES = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    actions: [{action: restart_service, params: {service: "{label:service|app}"}}]
  - name: disk
    match: {metric: disk_*}
    actions: [{action: cleanup_disk, params: {paths: ["/var/log/{label:app}"]}}]
"""


def test_a_unit_from_an_alert_label_is_matched_not_trusted(
    registry: ActionRegistry, anomaly: AnomalyFactory
) -> None:
    engine = RemediationEngine(load_rules_text(LABELLED_RULES, "r.yaml", registry), registry)
    result = engine.evaluate(anomaly(labels={"service": "poweroff.target"}))
    assert result.live is not None
    (candidate,) = result.live.candidates
    assert not candidate.ready
    assert candidate.error is not None
    assert "parameter service" in candidate.error
    assert "unit poweroff.target is not allowed: only .service units" in candidate.error


def test_a_path_from_an_alert_label_is_matched_not_trusted(
    registry: ActionRegistry, anomaly: AnomalyFactory
) -> None:
    engine = RemediationEngine(load_rules_text(LABELLED_RULES, "r.yaml", registry), registry)
    disk = anomaly(metric="disk_utilization", labels={"app": "../../etc"})
    (candidate,) = engine.evaluate(disk).live.candidates  # type: ignore[union-attr]
    assert not candidate.ready
    assert "'/var/log/../../etc'" in (candidate.error or "")
    fine = anomaly(metric="disk_utilization", labels={"app": "nginx"})
    (candidate,) = engine.evaluate(fine).live.candidates  # type: ignore[union-attr]
    assert candidate.ready


def test_a_rules_file_with_templated_units_loads_under_a_configured_list(
    tmp_path: Path, anomaly: AnomalyFactory
) -> None:
    registry = build_registry(catalogue_with(tmp_path, "restartable_units: [nginx]\n"))
    engine = RemediationEngine(load_rules_text(LABELLED_RULES, "r.yaml", registry), registry)
    (good,) = engine.evaluate(anomaly(labels={"service": "nginx"})).live.candidates  # type: ignore[union-attr]
    assert good.ready
    (other,) = engine.evaluate(anomaly(labels={"service": "redis"})).live.candidates  # type: ignore[union-attr]
    assert "not a restartable unit (nginx)" in (other.error or "")
    with pytest.raises(RulesFileError) as info:
        load_rules_text(
            LABELLED_RULES.replace('"{label:service|app}"', "redis"), "r.yaml", registry
        )
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (5, "rules[0].actions[0].params.service")
    assert "unit redis.service is not a restartable unit (nginx)" in problem.reason


# --- the other actions -------------------------------------------------------------------


def test_a_script_is_refused_unless_a_catalogue_lists_it(registry: ActionRegistry) -> None:
    assert "not in the script catalogue" in refusal(
        registry, "optimize_performance", script="mine-bitcoin"
    )
    # Parsed without the catalogue (no context): refused, never taken on trust.
    from services.remediator.core.actions.optimize_performance import OptimizePerformanceParams

    with pytest.raises(ValidationError, match="no script catalogue"):
        OptimizePerformanceParams.model_validate({"script": "collect-diagnostics"})


def test_the_journal_is_never_vacuumed_to_nothing(registry: ActionRegistry) -> None:
    assert "journal_max_size" in refusal(registry, "cleanup_disk", journal_max_size="0M")
    assert "journal_max_size" in refusal(registry, "cleanup_disk", journal_max_size="1K")
    assert registry["cleanup_disk"].parse({"journal_max_size": "64M"}).journal_max_size == "64M"


@pytest.mark.parametrize("action", ["scale_in", "scale_out"])
@pytest.mark.parametrize("by", [0, -1, 21, "1; reboot", 1.5])
def test_scaling_amounts_stay_within_bounds(registry: ActionRegistry, action: str, by: Any) -> None:
    assert refusal(registry, action, by=by).startswith("by: ")


def test_unknown_parameters_are_refused(registry: ActionRegistry) -> None:
    for action in registry:
        needed = {
            "optimize_performance": {"script": "drop-page-cache"},
            "restart_service": {"service": "nginx"},
        }.get(action, {})
        message = refusal(registry, action, command="reboot", **needed)
        assert "Extra inputs are not permitted" in message


@pytest.mark.parametrize(
    "script", ["{label:script}", "{label:script|collect-diagnostics}", "{metric}"]
)
def test_a_rule_names_its_script_never_fills_it_from_the_anomaly(
    registry: ActionRegistry, script: str
) -> None:
    """What runs is the rule author's choice: a script filled from the alert would let whoever
    sends alerts pick any catalogue script, whatever risk and approval the rule states."""
    rules = (
        "version: 1\nrules:\n  - name: tune\n    match: {metric: cpu_*}\n    risk: low\n"
        "    approval: auto\n    actions:\n      - action: optimize_performance\n"
        f'        params: {{script: "{script}"}}\n'
    )
    with pytest.raises(RulesFileError) as info:
        load_rules_text(rules, "r.yaml", registry)
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (9, "rules[0].actions[0].params.script")
    assert "named in the rule, not filled from the anomaly" in problem.reason
