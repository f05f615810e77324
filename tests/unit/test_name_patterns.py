"""The names checked with a pattern (ids in paths, rule and script names, durations, ARNs) are
the whole value: a line break after a valid name is not the name (``$`` alone lets one
through, and a name with it would be another key, path or log line)."""

from __future__ import annotations

import re

import pytest

from scops.backtest_history import _DURATION
from services.detector.model_store import _VERSION
from services.gateway.chatops.remediation_request import INSTANCE_ID
from services.gateway.console.routes_actions import DURATION, HEX_ID, RULE_NAME, WINDOW_ID
from services.gateway.people import PERSON, SLACK_ID
from services.remediator.core.accounts import ROLE_ARN
from services.remediator.core.actions.catalogue import SCRIPT_NAME

VALID = [
    (_VERSION, "20261205T120000000000Z-0123abcd"),
    (INSTANCE_ID, "i-0123456789abcdef0"),
    (HEX_ID, "0" * 32),
    (WINDOW_ID, "deploy-1"),
    (RULE_NAME, "cpu-critical"),
    (DURATION, "1h30m"),
    (PERSON, "ana"),
    (SLACK_ID, "slack:T0123:U0456"),
    (ROLE_ARN, "arn:aws:iam::123456789012:role/scops"),
    (SCRIPT_NAME, "trim-caches"),
    (_DURATION, "15m"),
]


@pytest.mark.parametrize(("pattern", "name"), VALID, ids=[v for _, v in VALID])
def test_a_name_followed_by_a_line_break_is_not_the_name(
    pattern: re.Pattern[str], name: str
) -> None:
    assert pattern.match(name)
    assert pattern.match(name + "\n") is None
