"""Routes (who hears about what, grouped how) and silences (what is muted, until when)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.notifier.config import NotifierSettings
from services.notifier.core.alerts import MessageKind, Timing
from services.notifier.core.routing import Match, Route, Router, Subject
from services.notifier.core.silences import Silence, SilenceMatchers, muted
from shared.events import Severity
from tests.support.notifier_events import T0

TIMING = Timing(group_wait_s=10, group_interval_s=60, repeat_interval_s=3600)


def subject(
    kind: MessageKind = MessageKind.ANOMALY,
    severity: Severity = Severity.HIGH,
    resource_id: str = "web-1",
    metric: str = "cpu_utilization",
    **labels: str,
) -> Subject:
    return Subject(
        kind=kind, severity=severity, resource_id=resource_id, metric=metric, labels=labels
    )


def router(*routes: dict[str, object]) -> Router:
    return Router(
        [Route.model_validate(r) for r in routes],
        default_receiver="slack",
        group_by=["metric"],
        timing=TIMING,
    )


def test_what_no_route_matches_goes_to_the_default_receiver_grouped_by_metric() -> None:
    (target,) = router().targets(subject())
    assert target.receiver == "slack"
    assert target.group_labels == {"metric": "cpu_utilization"}
    assert target.timing == TIMING
    assert router().targets(subject(resource_id="web-2"))[0].group_id == target.group_id


def test_critical_also_goes_to_a_second_receiver_with_its_own_timing() -> None:
    r = router(
        {
            "match": {"severities": ["critical"]},
            "receivers": ["pager"],
            "continue": True,
            "group_wait_s": 0,
            "group_by": ["resource_id"],
        },
        {"receivers": ["slack"]},
    )
    targets = r.targets(subject(severity=Severity.CRITICAL))
    assert [t.receiver for t in targets] == ["pager", "slack"]
    assert targets[0].timing.group_wait_s == 0 and targets[0].group_labels == {
        "resource_id": "web-1"
    }
    assert [t.receiver for t in r.targets(subject(severity=Severity.HIGH))] == ["slack"]


def test_the_first_matching_route_wins_and_an_empty_one_drops() -> None:
    r = router(
        {"match": {"min_severity": "medium"}, "receivers": ["slack"]},
        {"match": {"resource": "db-*"}, "receivers": ["dba"]},
        {"receivers": []},
    )
    assert [t.receiver for t in r.targets(subject(resource_id="db-1"))] == ["slack"]
    low_db = subject(severity=Severity.LOW, resource_id="db-1")
    assert [t.receiver for t in r.targets(low_db)] == ["dba"]
    assert r.targets(subject(severity=Severity.LOW)) == []


def test_routes_match_kinds_metrics_and_labels() -> None:
    match = Match(kinds=[MessageKind.APPROVAL], metric="cpu_*", labels={"env": "prod*"})
    assert match.matches(subject(MessageKind.APPROVAL, env="production"))
    assert not match.matches(subject(MessageKind.APPROVAL, env="staging"))
    assert not match.matches(subject(MessageKind.ANOMALY, env="prod"))
    assert not match.matches(subject(MessageKind.APPROVAL, metric="mem", env="prod"))


def silence(hours: float = 1, **matchers: object) -> Silence:
    return Silence(
        matchers=SilenceMatchers.model_validate(matchers),
        starts_at=T0,
        ends_at=T0 + timedelta(hours=hours),
        created_by="ana",
    )


def test_a_silence_mutes_what_matches_while_it_lasts() -> None:
    s = silence(resource="web-*", metric="cpu_utilization")
    during = T0 + timedelta(minutes=30)
    assert muted([s], subject(), during)
    assert not muted([s], subject(resource_id="db-1"), during)
    assert not muted([s], subject(), T0 + timedelta(hours=2))
    assert not muted([s], subject(), T0 - timedelta(seconds=1))


def test_a_silence_does_not_hide_approval_requests_unless_it_says_so() -> None:
    during = T0 + timedelta(minutes=1)
    assert not muted([silence()], subject(MessageKind.APPROVAL), during)
    assert muted([silence(kinds=["approval"])], subject(MessageKind.APPROVAL), during)
    assert muted([silence()], subject(MessageKind.ACTION_RESULT), during)


def test_a_silence_can_be_limited_to_severities() -> None:
    s = silence(severities=["low", "medium"])
    during = T0 + timedelta(minutes=1)
    assert muted([s], subject(severity=Severity.LOW), during)
    assert not muted([s], subject(severity=Severity.CRITICAL), during)


def test_a_silence_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError, match="ends_at must not be before starts_at"):
        silence(hours=-1)


def test_settings_refuse_routes_to_unknown_receivers_and_bad_templates() -> None:
    with pytest.raises(ValidationError, match="unknown receivers"):
        NotifierSettings(notify_routes=[{"receivers": ["nowhere"]}])
    with pytest.raises(ValidationError, match="needs a url or a parameter"):
        NotifierSettings(notify_receivers=[{"name": "pager"}])
    with pytest.raises(ValidationError, match="set SCOPS_AWS_REGION"):
        NotifierSettings(notify_receivers=[{"name": "pager", "parameter": "/p"}])
    with pytest.raises(ValidationError, match="unknown group labels"):
        NotifierSettings(group_by="metric,colour")
    with pytest.raises(ValidationError, match="unknown placeholders"):
        NotifierSettings(grafana_url_template="https://g/{secret}")
    settings = NotifierSettings(
        notify_receivers=[{"name": "pager", "url": "https://pager.example/hook"}],
        notify_routes=[{"receivers": ["pager"], "continue": True}],
    )
    assert settings.notify_routes[0].continue_
    assert "pager.example" not in repr(settings)
