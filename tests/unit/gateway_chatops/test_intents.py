"""The intent schema every parser must produce is strict: what does not fit is refused."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from services.gateway.chatops.intents import ActionName, ChatIntent, IntentName


def from_json(data: object) -> ChatIntent:
    return ChatIntent.model_validate_json(json.dumps(data))


def test_a_complete_intent_from_json() -> None:
    intent = from_json(
        {
            "intent": "run_action",
            "entities": {"action": "restart_service", "resource": "web-1", "service": "nginx"},
        }
    )
    assert intent.entities.action is ActionName.RESTART_SERVICE
    assert intent.intent.changes_something
    assert not ChatIntent.of(IntentName.STATUS).intent.changes_something


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"intent": "reboot_everything"}, "intent"),
        ({"intent": "status", "entities": {"resource": "web-1"}}, "does not take resource"),
        ({"intent": "status", "why": "because"}, "Extra inputs"),
        ({"intent": "status", "entities": {"colour": "red"}}, "Extra inputs"),
        ({"intent": "resource_health"}, "needs resource"),
        ({"intent": "run_action", "entities": {"resource": "web-1"}}, "needs action"),
        (
            {"intent": "run_action", "entities": {"action": "restart_service", "resource": "w"}},
            "needs service",
        ),
        (
            {
                "intent": "run_action",
                "entities": {"action": "cleanup_disk", "resource": "w", "service": "nginx"},
            },
            "cleanup_disk does not take service",
        ),
        ({"intent": "recent_anomalies", "entities": {"window_s": "3600"}}, "valid integer"),
        ({"intent": "recent_anomalies", "entities": {"window_s": 10}}, "greater than"),
        ({"intent": "silence", "entities": {"resource": "web-1", "duration_s": 9e9}}, "integer"),
        ({"intent": "approve", "entities": {"approval_id": "xyz"}}, "pattern"),
        ({"intent": "resource_health", "entities": {"resource": "web-*"}}, "only silences"),
        ({"intent": "resource_health", "entities": {"resource": "web 1"}}, "resource id or glob"),
        ({"intent": "run_action", "entities": {"action": "rm_rf", "resource": "w"}}, "action"),
        (
            {
                "intent": "run_action",
                "entities": {
                    "action": "restart_service",
                    "resource": "web-1",
                    "service": "nginx; reboot",
                },
            },
            "pattern",
        ),
    ],
)
def test_what_does_not_fit_is_refused(data: object, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        from_json(data)


def test_silences_take_resource_patterns() -> None:
    intent = from_json({"intent": "silence", "entities": {"resource": "web-*", "duration_s": 3600}})
    assert intent.as_command() == "silence web-* for 1h"
