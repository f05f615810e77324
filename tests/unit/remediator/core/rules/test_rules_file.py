"""Loading rules files: the shipped set is valid; a bad file is refused with line, path and
reason, naming every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.durations import format_duration, parse_duration
from services.remediator.core.rules.loading import load_rules_file, load_rules_text
from services.remediator.errors import RulesFileError
from services.remediator.stores.debounce import Streak
from tests.support.remediator_fixtures import RULES

GOOD_RULE = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    actions:
      - action: restart_service
        params: {service: nginx}
"""


def test_the_shipped_rules_cover_every_kind_of_metric(registry: ActionRegistry) -> None:
    loaded = load_rules_file(RULES, registry)
    covered = " ".join(p for rule in loaded.rules.rules for p in rule.match.metric)
    for family in ("cpu", "memory", "disk", "network", "response_time", "error_rate"):
        assert family in covered, family
    assert loaded.version == load_rules_file(RULES, registry).version
    assert any(rule.mode == "shadow" for rule in loaded.rules.rules)


def refusal(text: str, registry: ActionRegistry) -> RulesFileError:
    with pytest.raises(RulesFileError) as info:
        load_rules_text(text, "rules.yaml", registry)
    return info.value


def test_an_unknown_action_is_refused_at_its_line(registry: ActionRegistry) -> None:
    error = refusal(GOOD_RULE.replace("restart_service", "reboot_everything"), registry)
    assert error.problems[0].line == 6
    assert error.problems[0].path == "rules[0].actions[0].action"
    assert "unknown action 'reboot_everything'" in error.problems[0].reason
    assert "restart_service" in error.problems[0].reason  # lists what is known
    assert str(error).startswith("rules.yaml: line 6: rules[0].actions[0].action: unknown")


def test_invalid_parameters_name_the_parameter(registry: ActionRegistry) -> None:
    error = refusal(GOOD_RULE.replace("{service: nginx}", "{service: 'a b; rm -rf /'}"), registry)
    assert error.problems[0].path == "rules[0].actions[0].params.service"
    assert error.problems[0].line == 7
    assert "pattern" in error.problems[0].reason


def test_schema_errors_are_all_reported_with_lines(registry: ActionRegistry) -> None:
    text = GOOD_RULE.replace("match: {metric: cpu_*}", "match: {metric: cpu_*, severty: high}")
    text += "    for: soon\n    colldown: 5m\n"
    error = refusal(text, registry)
    found = {(p.line, p.path) for p in error.problems}
    assert (4, "rules[0].match.severty") in found
    assert (8, "rules[0].for") in found
    assert (9, "rules[0].colldown") in found
    reasons = " | ".join(p.reason for p in error.problems)
    assert "unknown field" in reasons
    assert "'soon' is not a duration" in reasons


def test_a_target_the_action_cannot_act_on_is_refused(registry: ActionRegistry) -> None:
    text = GOOD_RULE.replace("restart_service", "scale_out").replace("{service: nginx}", "{}")
    error = refusal(text, registry)
    assert error.problems[0].path == "rules[0].actions[0].target"
    assert "auto_scaling_group" in error.problems[0].reason


def test_bad_yaml_and_bad_placeholders_and_duplicates(registry: ActionRegistry) -> None:
    assert (
        refusal("rules: [\n  - {name: x\n", registry)
        .problems[0]
        .reason.startswith("not valid YAML")
    )
    error = refusal(GOOD_RULE.replace("nginx", "'{hostname}'"), registry)
    assert "unknown placeholder {hostname}" in error.problems[0].reason
    doubled = GOOD_RULE + GOOD_RULE.split("rules:\n", 1)[1]
    assert "two rules are named 'cpu'" in str(refusal(doubled, registry))
    assert "empty" in str(refusal("", registry))


def test_a_missing_file_is_refused_clearly(registry: ActionRegistry, tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="cannot read"):
        load_rules_file(tmp_path / "nope.yaml", registry)


def test_an_unknown_catalogue_script_is_refused(registry: ActionRegistry) -> None:
    text = GOOD_RULE.replace("restart_service", "optimize_performance").replace(
        "{service: nginx}", "{script: mine-bitcoin}"
    )
    error = refusal(text, registry)
    assert error.problems[0].path == "rules[0].actions[0].params.script"
    assert "not in the script catalogue" in error.problems[0].reason


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90", 90.0), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("2d", 172800.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5 minutes", "-1", True, "", "5x"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_print_back() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(0.5) == "0.5s"


def test_a_sustained_condition_is_enough_for_every_shipped_debounced_rule(
    registry: ActionRegistry,
) -> None:
    """A condition that lasts is one anomaly event: the detector raises one per episode (another
    only when its severity rises, and never past ``high`` by duration alone). So a shipped rule
    that waits for a condition to last ("slow responses that last 3 minutes") must be met by
    time alone: after the episode's first event a re-check is due when ``for:`` is up, and the
    rule acts then if the episode is still open. Asking for several events too, it never did."""
    debounced = [r for r in load_rules_file(RULES, registry).rules.rules if r.debounced]
    assert debounced
    for rule in debounced:
        first = Streak(first_ms=0, last_ms=0, events=1, lasted_s=0.0)
        assert first.wait_s(rule) == rule.for_, rule.name
        assert Streak(first_ms=0, last_ms=0, events=1, lasted_s=rule.for_).satisfied(rule)


OWN_FILE = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_utilization}
    actions: [{action: scale_out, target: {auto_scaling_group: "{label:asg}"}}]
"""


def test_a_rules_file_without_a_blast_radius_has_the_default_one(
    registry: ActionRegistry,
) -> None:
    """5 targets per action an hour, as documented: a file of one's own that says nothing of
    it acted on any number of targets; ``off`` says so in words."""
    policy = load_rules_text(OWN_FILE, "rules.yaml", registry).rules.policy
    blast = policy.default_blast()
    assert blast is not None and (blast.max_targets, blast.window) == (5, 3600.0)
    off = OWN_FILE.replace("rules:\n", "policy: {blast_radius: off}\nrules:\n", 1)
    assert load_rules_text(off, "rules.yaml", registry).rules.policy.default_blast() is None
