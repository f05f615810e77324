"""The wording of answers, from the services' own documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.gateway.chatops import answers, insight_words
from services.gateway.chatops.intents import ActionName
from shared.events import Severity

NOW = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)


def anomaly(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event_id": "11111111-2222-3333-4444-555555555555",
        "resource_id": "web-1",
        "metric": "cpu_utilization",
        "value": 97.5,
        "expected_low": 20.0,
        "expected_high": 50.0,
        "severity": "critical",
        "observed_at": "2026-11-26T18:00:00+00:00",
        "episode_started_at": "2026-11-26T18:00:00+00:00",
        "explanation": "CPU far above its usual range",
    }
    item.update(changes)
    return item


def test_resource_health_separates_open_and_resolved() -> None:
    items = [
        anomaly(),
        anomaly(event_id="a2", severity="high"),  # an earlier event of the same episode
        anomaly(
            event_id="a3",
            metric="memory_utilization",
            severity="medium",
            episode_started_at="2026-11-26T16:00:00+00:00",
            resolved_at="2026-11-26T16:10:00+00:00",
            duration_s=600,
        ),
    ]
    text = answers.resource_health("web-1", items, 86400, NOW)
    assert text.splitlines()[0] == (
        "*web-1* has 1 open anomaly (worst: critical) and 1 resolved in the last day."
    )
    assert "*CRITICAL* `cpu_utilization` = 97.5 (expected 20 to 50)" in text
    assert "open for 30 min" in text
    assert "*MEDIUM* `memory_utilization`" in text and "resolved after 10 min" in text
    assert "*HIGH*" not in text  # the same episode, listed once


def test_nothing_wrong() -> None:
    assert answers.resource_health("web-9", [], 86400, NOW) == (
        "Nothing is wrong with web-9 that I know of: no anomalies in the last day."
    )


def test_alerts_without_a_range_do_not_show_one() -> None:
    line = answers.anomaly_line(anomaly(expected_low=97.5, expected_high=97.5), NOW)
    assert "expected" not in line
    assert "on web-1 = 97.5 since 2026-11-26 18:00 UTC" in line


def test_recent_anomalies_lists_and_counts_open_ones() -> None:
    items = [anomaly(event_id=f"e{i}", resource_id=f"web-{i}") for i in range(20)]
    items[0]["resolved_at"] = "2026-11-26T18:20:00+00:00"
    text = answers.recent_anomalies(items, 3600, None, None, NOW, truncated=True)
    lines = text.splitlines()
    assert lines[0] == "20+ anomalies in the last hour (19 still open):"
    assert lines[-1] == "…and 5 more"
    assert answers.recent_anomalies([], 7200, "db-1", Severity.HIGH, NOW, False) == (
        "No high or worse anomalies on db-1 in the last 2 hours."
    )


def test_one_recent_anomaly_is_said_in_the_singular() -> None:
    one = answers.recent_anomalies([anomaly()], 3600, None, None, NOW, truncated=False)
    assert one.splitlines()[0] == "1 anomaly in the last hour (1 still open):"
    high = answers.recent_anomalies([anomaly()], 3600, None, Severity.HIGH, NOW, truncated=False)
    assert high.splitlines()[0] == "1 high or worse anomaly in the last hour (1 still open):"
    more = answers.recent_anomalies([anomaly()], 3600, None, None, NOW, truncated=True)
    assert more.splitlines()[0] == "1+ anomalies in the last hour (1 still open):"


def record(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": "r1",
        "occurred_at": "2026-11-26T18:02:00+00:00",
        "resource_id": "web-1",
        "action": "restart_service",
        "status": "succeeded",
        "reason": "critical anomaly on cpu_utilization: 97.5 above 50",
        "rule": "cpu-critical",
        "decided_by": None,
        "target": "tag:Name=web-1",
        "run_id": "run-2",
        "anomaly_explanation": "CPU far above its usual range",
    }
    data.update(changes)
    return data


def test_action_history_explains_the_latest_run_and_lists_earlier_ones() -> None:
    records = [
        record(),
        record(event_id="r0", status="running"),  # the same run, earlier
        record(
            event_id="q1",
            run_id="run-1",
            status="blocked",
            blocked_by="cooldown",
            occurred_at="2026-11-26T17:00:00+00:00",
            rule=None,
            decided_by="ana (key abc)",
            reason="web-1 is cooling down",
        ),
    ]
    text = answers.action_history("web-1", ActionName.RESTART_SERVICE, records)
    lines = text.splitlines()
    assert lines[0] == (
        "Latest `restart_service` for *web-1*: *succeeded* at 2026-11-26 18:02 UTC because: "
        "critical anomaly on cpu_utilization: 97.5 above 50 (anomaly: CPU far above its usual "
        "range)"
    )
    assert lines[1] == "Earlier:"
    assert lines[2] == (
        "• 2026-11-26 17:00 UTC: `restart_service` on tag:Name=web-1: *blocked* by `cooldown` "
        "(decided by ana (key abc)) — web-1 is cooling down"
    )
    assert len(lines) == 3
    assert answers.action_history("web-1", None, []) == (
        "The remediator's audit log has no remediation decision for web-1."
    )


def test_action_history_names_each_approver_with_channel_and_time() -> None:
    votes = [
        {"by": "ana (key abc)", "via": "chatops", "at": "2026-11-26T17:58:00Z"},
        {"by": "ben (slack U0BEN)", "via": "slack", "at": "2026-11-26T18:01:30Z"},
    ]
    latest = record(decided_by="ana (key abc), ben (slack U0BEN)", votes=votes)
    rejected = record(
        event_id="q1",
        run_id="run-1",
        status="rejected",
        occurred_at="2026-11-26T17:00:00+00:00",
        decided_by="cy",
        reason="rejected by cy",
        votes=[{"decision": "rejected", "by": "cy", "via": "console", "at": "2026-11-26T17:00Z"}],
    )
    lines = answers.action_history("web-1", None, [latest, rejected]).splitlines()
    assert lines[0].endswith(
        "; approved by ana (key abc) via ChatOps at 2026-11-26 17:58:00 UTC, "
        "ben (slack U0BEN) via Slack at 2026-11-26 18:01:30 UTC"
    )
    assert (
        "(rule `cpu-critical`, rejected by cy via the console at 2026-11-26 17:00:00 UTC)"
        in (lines[2])
    )


def test_status_lines_use_only_what_the_services_send() -> None:
    assert answers.detector_status(
        {"series_tracked": 12, "series_warming_up": 3, "samples_scored": 4500}
    ) == ("12 series tracked, 3 warming up, 4500 samples scored")
    remediator = {
        "executor": "dry-run",
        "dry_run": True,
        "rules": {"count": 9, "last_error": None},
        "pending_approvals": 1,
        "safety": {"actions_this_hour": 2, "rate_limit_per_hour": 10, "breaker": {"open": False}},
        "maintenance_windows": [],
    }
    assert answers.remediator_status(remediator) == (
        "executor dry-run (dry-run on), 9 rules, 1 pending approval(s), 2 of 10 actions this "
        "hour, breaker closed"
    )
    assert answers.remediator_status({}) == "up"
    assert answers.anomaly_summary([anomaly()]) == (
        "1 in the last hour, 1 still open (worst: critical)"
    )


def test_safety_state_says_nothing_is_changed_when_the_executor_is_dry_run() -> None:
    """SCOPS_DRY_RUN off but no AWS configured: the remediator's executor is ``dry-run``, so
    actions are recorded and nothing is changed. "dry-run off: actions change things" would
    tell the on-call the opposite of what happens (the console's overview says dry-run)."""
    status = {
        "executor": "dry-run",
        "dry_run": False,
        "safety": {"breaker": {"open": False}, "actions_this_hour": 1, "rate_limit_per_hour": 10},
    }
    lines = insight_words.safety(status).splitlines()
    assert "• dry-run off: actions change things" not in lines, lines
    assert any("executor is *dry-run*" in line and "nothing is changed" in line for line in lines)
    real = insight_words.safety({**status, "executor": "ssm"}).splitlines()
    assert "• dry-run off: actions change things" in real, real


def test_one_rule_names_what_it_matches_in_words_not_python_lists() -> None:
    rule = {
        "name": "cpu-critical",
        "effective_mode": "live",
        "actions": [{"action": "restart_service"}],
        "match": {
            "metric": ["cpu_utilization", "cpu_*"],
            "severity_at_least": "critical",
            "resources": ["*"],
            "labels": {"env": "prod"},
            "detectors": [],
        },
    }
    lines = insight_words.one_rule(rule).splitlines()
    assert lines[-1] == (
        "Matches: metric `cpu_utilization`, `cpu_*`; severity at least critical; "
        "resources `*`; labels `env=prod`"
    ), lines


def test_a_summary_of_one_incident_and_one_decision_says_them_in_the_singular() -> None:
    records = [{"status": "dry_run", "action": "restart_service", "resource_id": "web-1"}]
    text = insight_words.summary(86400, [anomaly()], records, "history")
    assert "• 1 incident (1 critical)" in text and "• 1 remediation decision: 1 dry_run" in text


def test_a_summary_lists_each_kind_of_decision_once_with_how_often_it_came() -> None:
    def decision(minute: int, action: str | None, target: str, status: str) -> dict[str, Any]:
        return {
            "run_id": f"r{minute}",
            "occurred_at": f"2026-12-07T15:{minute:02d}:00Z",
            "action": action,
            "target": target,
            "status": status,
        }

    records = [
        decision(9, "scale_out", "asg:c", "dry_run"),
        decision(8, "scale_out", "asg:c", "dry_run"),
        decision(7, None, "web-1", "no_action"),
        decision(6, "scale_out", "asg:c", "blocked"),
        decision(5, "scale_out", "asg:c", "dry_run"),
        decision(4, None, "web-1", "no_action"),
    ]
    lines = insight_words.summary(86400, [], records, "history").splitlines()
    assert lines[-3:] == [
        "  ◦ 2026-12-07 15:09 UTC `scale_out` on asg:c: *dry_run* (3 times, the latest then)",
        "  ◦ 2026-12-07 15:07 UTC no action on web-1 (2 times, the latest then)",
        "  ◦ 2026-12-07 15:06 UTC `scale_out` on asg:c: *blocked*",
    ]


def test_pending_approvals_say_who_asked_or_whose_data_a_rule_acted_on() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def pending(request: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "a1b2c3d4e5",
            "required": 1,
            "approvers": [],
            "expires_at": "2026-01-05T12:30:00+00:00",
            "request": {"action": "scale_in", "incident": {"resource_id": "web-asg"}, **request},
        }

    by_hand = pending({"requested_by": "person:olga"})
    by_rule = pending({"requested_by": "person:olga", "rule": "idle-group"})
    lines = insight_words.approvals([by_hand, by_rule], mine=False, now=now).splitlines()
    assert lines[1].endswith("(0 of 1 approvals, expires in 30 min), asked by person:olga")
    assert lines[2].endswith(", rule `idle-group`, data sent by person:olga")


def test_a_band_reads_as_the_explanation_beside_it_says_it() -> None:
    item = anomaly(
        expected_low=28.0924113,
        expected_high=42.1978,
        explanation="cpu_utilization=97.5 is above the expected 28.09 to 42.2",
    )
    line = answers.anomaly_line(item, NOW)
    assert "= 97.5 (expected 28.09 to 42.2) since" in line
