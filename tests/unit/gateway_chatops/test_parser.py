"""The deterministic parser: every intent, its entities, near misses and garbage."""

from __future__ import annotations

import pytest

from services.gateway.chatops.intents import ActionName, ChatIntent, IntentName
from services.gateway.chatops.parser import parse, tidy
from services.gateway.chatops.remediation_request import manual_request
from services.gateway.chatops.replies import NotUnderstood
from shared.events import Severity


def understood(text: str) -> ChatIntent:
    result = parse(text)
    assert isinstance(result, ChatIntent), f"{text!r}: {result}"
    return result


@pytest.mark.parametrize(
    "text",
    ["help", "HELP", "?", "what can you do?", "commands", "usage", "@cloudops help"],
)
def test_help(text: str) -> None:
    assert understood(text).intent is IntentName.HELP


@pytest.mark.parametrize(
    "text",
    [
        "status",
        "Status?",
        "system status",
        "health",
        "how are things?",
        "is everything ok",
        "what's the status",
        "hey cloudops, status please",
    ],
)
def test_status(text: str) -> None:
    intent = understood(text)
    assert intent.intent is IntentName.STATUS
    assert intent.entities.resource is None


@pytest.mark.parametrize(
    ("text", "resource"),
    [
        ("what's wrong with web-1?", "web-1"),
        ("What\u2019s wrong with web-1?", "web-1"),
        ("whats up with db-primary.eu-west-1", "db-primary.eu-west-1"),
        ("what is going on with i-0abc123def4567890", "i-0abc123def4567890"),
        ("how is web-1 doing", "web-1"),
        ("status of web-1", "web-1"),
        ("is web-1 healthy?", "web-1"),
        ("any problems with Web-1", "Web-1"),
    ],
)
def test_resource_health_keeps_the_resource_as_written(text: str, resource: str) -> None:
    intent = understood(text)
    assert intent.intent is IntentName.RESOURCE_HEALTH
    assert intent.entities.resource == resource


@pytest.mark.parametrize(
    ("text", "window_s", "resource", "severity"),
    [
        ("anomalies in the last hour", 3600, None, None),
        ("anomalies", 3600, None, None),
        ("show me anomalies from the past 30 minutes", 1800, None, None),
        ("anomalies in the last 2 hours", 7200, None, None),
        ("list critical anomalies in the last day", 86400, None, Severity.CRITICAL),
        ("high anomalies on web-1 over the last 3 days", 3 * 86400, "web-1", Severity.HIGH),
        ("any alerts for db-1 within the last 90 min", 5400, "db-1", None),
        ("incidents last week", 604800, None, None),
        ("what happened in the last 45 minutes", 2700, None, None),
        ("anomalies in the last 1h30m", 5400, None, None),
    ],
)
def test_recent_anomalies_read_time_ranges_in_words(
    text: str, window_s: int, resource: str | None, severity: Severity | None
) -> None:
    intent = understood(text)
    assert intent.intent is IntentName.RECENT_ANOMALIES
    assert intent.entities.window_s == window_s
    assert intent.entities.resource == resource
    assert intent.entities.min_severity == severity


@pytest.mark.parametrize(
    ("text", "resource", "action"),
    [
        ("why was web-1 restarted?", "web-1", ActionName.RESTART_SERVICE),
        ("why did web-1 restart", "web-1", ActionName.RESTART_SERVICE),
        ("why did web-1 get restarted", "web-1", ActionName.RESTART_SERVICE),
        ("why did nginx get restarted on web-1", "web-1", ActionName.RESTART_SERVICE),
        ("why was web-asg scaled out", "web-asg", ActionName.SCALE_OUT),
        ("why was web-asg scaled down", "web-asg", ActionName.SCALE_IN),
        ("why was web-1 cleaned up", "web-1", ActionName.CLEANUP_DISK),
        ("what happened to web-1?", "web-1", None),
        ("history of web-1", "web-1", None),
        ("audit log for web-1", "web-1", None),
        ("history of enhance_monitoring on web-1", "web-1", ActionName.ENHANCE_MONITORING),
    ],
)
def test_action_history(text: str, resource: str, action: ActionName | None) -> None:
    intent = understood(text)
    assert intent.intent is IntentName.ACTION_HISTORY
    assert (intent.entities.resource, intent.entities.action) == (resource, action)


def test_restart_with_service_target_options_and_reason() -> None:
    intent = understood(
        "Please restart the nginx service on web-1 in dry run because stuck workers"
    )
    e = intent.entities
    assert intent.intent is IntentName.RUN_ACTION
    assert (e.action, e.service, e.resource) == (ActionName.RESTART_SERVICE, "nginx", "web-1")
    assert e.dry_run is True
    assert e.reason == "stuck workers"
    plain = understood("restart nginx on i-0abc123def4567890").entities
    assert (plain.resource, plain.dry_run, plain.reason) == ("i-0abc123def4567890", False, None)


@pytest.mark.parametrize(
    "text",
    [
        "restart nginx on web-1 because testing --dry-run",
        "restart nginx on web-1 because checking the plan, dry run",
        "scale in web-asg by 1 because rehearsal (dry-run)",
        "clean up disk on web-1 because disk full, in dry run",
    ],
)
def test_dry_run_said_in_the_reason_is_a_dry_run(text: str) -> None:
    """The reason is not read for options, but a message that says dry run never acts."""
    entities = understood(text).entities
    assert entities.dry_run is True
    assert manual_request(entities, "olga (key 1)", text)["dry_run"] is True


@pytest.mark.parametrize(
    ("text", "action", "resource", "extra"),
    [
        ("scale out web-asg by 2", ActionName.SCALE_OUT, "web-asg", {"count": 2}),
        ("scale up web-asg", ActionName.SCALE_OUT, "web-asg", {"count": None}),
        ("scale in web-asg by one", ActionName.SCALE_IN, "web-asg", {"count": 1}),
        ("add 3 instances to web-asg", ActionName.SCALE_OUT, "web-asg", {"count": 3}),
        ("remove an instance from web-asg", ActionName.SCALE_IN, "web-asg", {"count": 1}),
        ("clean up disk on web-1", ActionName.CLEANUP_DISK, "web-1", {}),
        ("free up disk space on web-1", ActionName.CLEANUP_DISK, "web-1", {}),
        ("enable detailed monitoring on web-1", ActionName.ENHANCE_MONITORING, "web-1", {}),
        (
            "run drop-page-cache on web-1",
            ActionName.OPTIMIZE_PERFORMANCE,
            "web-1",
            {"script": "drop-page-cache"},
        ),
    ],
)
def test_other_actions(
    text: str, action: ActionName, resource: str, extra: dict[str, object]
) -> None:
    intent = understood(text)
    assert intent.intent is IntentName.RUN_ACTION
    assert (intent.entities.action, intent.entities.resource) == (action, resource)
    for name, value in extra.items():
        assert getattr(intent.entities, name) == value


@pytest.mark.parametrize(
    ("text", "intent", "approval_id", "reason"),
    [
        ("approve 42", IntentName.APPROVE, "42", None),
        ("Approve #4F1C", IntentName.APPROVE, "4f1c", None),
        ("approve approval 4f1c" + "0" * 28, IntentName.APPROVE, "4f1c" + "0" * 28, None),
        ("reject 42 because not during the sale", IntentName.REJECT, "42", "not during the sale"),
        ("deny 42: too risky", IntentName.REJECT, "42", "too risky"),
    ],
)
def test_decisions(text: str, intent: IntentName, approval_id: str, reason: str | None) -> None:
    parsed = understood(text)
    assert parsed.intent is intent
    assert (parsed.entities.approval_id, parsed.entities.reason) == (approval_id, reason)


@pytest.mark.parametrize(
    ("text", "resource", "metric", "duration_s"),
    [
        ("silence web-1 for 2h", "web-1", None, 7200),
        ("mute web-1", "web-1", None, 3600),
        ("snooze alerts for web-* for 30 minutes", "web-*", None, 1800),
        ("silence cpu_utilization on web-1 for 1 day", "web-1", "cpu_utilization", 86400),
        ("silence web-1 for half an hour", "web-1", None, 1800),
    ],
)
def test_silence(text: str, resource: str, metric: str | None, duration_s: int) -> None:
    intent = understood(text)
    assert intent.intent is IntentName.SILENCE
    e = intent.entities
    assert (e.resource, e.metric, e.duration_s) == (resource, metric, duration_s)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("restart web-1", "which service"),
        ("approve web-1", "approval's id"),
        ("silence web-1 for ages", "how long"),
        ("anomalies in the last fortnight", "time range"),
        ("restart nginx on web-1 unless it is busy", "dry run"),
        ("why was web-1 frobnicated", "restarted"),
    ],
)
def test_near_misses_say_what_is_missing(text: str, hint: str) -> None:
    result = parse(text)
    assert isinstance(result, NotUnderstood)
    assert result.hint is not None and hint in result.hint


@pytest.mark.parametrize(
    ("text", "said", "range_words"),
    [
        ("silence web-7 for 0m", "`0s`", "a silence lasts 1 minute to 30 days"),
        ("silence web-7 for 0s", "`0s`", "a silence lasts 1 minute to 30 days"),
        ("silence web-1 for 10s", "`10s`", "a silence lasts 1 minute to 30 days"),
        ("mute cpu on web-1 for 31 days", "`31d`", "a silence lasts 1 minute to 30 days"),
        # Said back as said, not as 359999999999996416s of float rounding.
        (
            "silence web-1 for 99999999999999 hours",
            "`99999999999999h`",
            "a silence lasts 1 minute to 30 days",
        ),
        ("maintenance on web-* for 0m", "`0s`", "a maintenance window lasts 1 minute to 30 days"),
        ("scale out web-asg by 1000", "`1000`", "scale by 1 to 20 instances"),
        ("scale in web-asg by 0", "`0`", "scale by 1 to 20 instances"),
        ("add 21 instances to web-asg", "`21`", "scale by 1 to 20 instances"),
        ("anomalies in the last 0 minutes", "`0s`", "a look-back window is 1 minute to 30 days"),
        ("summary of the last 90 days", "`90d`", "a look-back window is 1 minute to 30 days"),
        ("top 0 noisiest", "`0`", "the noisiest list shows the top 1 to 20"),
        ("top 500 noisiest in the last day", "`500`", "the noisiest list shows the top 1 to 20"),
    ],
)
def test_a_value_out_of_range_is_refused_with_its_range_never_replaced(
    text: str, said: str, range_words: str
) -> None:
    result = parse(text)
    assert isinstance(result, NotUnderstood)
    assert result.refusal is not None
    assert result.refusal.startswith(f"{said} is out of range: {range_words}.")
    assert "Nothing was done" in result.refusal


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "what's the weather like",
        "restart",
        "drop table anomalies;",
        "status of",
        "restart nginx on web 1",
        "x" * 600,
        "why was web-1 restarted and then scaled out",
        "anomalies on web-1; rm -rf /",
    ],
)
def test_garbage_is_not_understood(text: str) -> None:
    assert isinstance(parse(text), NotUnderstood)


def test_tidy_strips_politeness_and_punctuation_only_at_the_edges() -> None:
    assert tidy("  Hey   please  status?!  ") == "status"
    assert tidy("could you please restart nginx on web-1, thanks") == "restart nginx on web-1,"
    assert tidy("what's wrong with web-1.example.com?") == "what's wrong with web-1.example.com"


ROUND_TRIP = [
    ChatIntent.of(IntentName.STATUS),
    ChatIntent.of(IntentName.HELP),
    ChatIntent.of(IntentName.RESOURCE_HEALTH, resource="i-0abc123def4567890"),
    ChatIntent.of(IntentName.RECENT_ANOMALIES, window_s=5400),
    ChatIntent.of(
        IntentName.RECENT_ANOMALIES, window_s=86400, resource="web-1", min_severity="high"
    ),
    ChatIntent.of(IntentName.ACTION_HISTORY, resource="web-1"),
    ChatIntent.of(IntentName.ACTION_HISTORY, resource="web-1", action="restart_service"),
    ChatIntent.of(IntentName.ACTION_HISTORY, resource="asg-1", action="scale_in"),
    ChatIntent.of(IntentName.ACTION_HISTORY, resource="web-1", action="optimize_performance"),
    ChatIntent.of(
        IntentName.RUN_ACTION,
        action="restart_service",
        resource="web-1",
        service="nginx",
        dry_run=True,
        reason="stuck workers",
    ),
    ChatIntent.of(IntentName.RUN_ACTION, action="scale_out", resource="web-asg", count=2),
    ChatIntent.of(IntentName.RUN_ACTION, action="cleanup_disk", resource="web-1"),
    ChatIntent.of(IntentName.RUN_ACTION, action="enhance_monitoring", resource="web-1"),
    ChatIntent.of(
        IntentName.RUN_ACTION, action="optimize_performance", resource="web-1", script="gc-now"
    ),
    ChatIntent.of(IntentName.APPROVE, approval_id="4f1c"),
    ChatIntent.of(IntentName.REJECT, approval_id="4f1c", reason="not now"),
    ChatIntent.of(IntentName.SILENCE, resource="web-*", duration_s=7200),
    ChatIntent.of(IntentName.SILENCE, resource="web-1", metric="cpu", duration_s=90),
]


@pytest.mark.parametrize("intent", ROUND_TRIP, ids=lambda i: i.as_command())
def test_every_intent_written_as_a_command_parses_back_to_itself(intent: ChatIntent) -> None:
    assert parse(intent.as_command()) == intent
