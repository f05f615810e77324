"""A silence request must last a while; a silence ended before it began is a valid record
that mutes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.notifier.api.routes_silences import SilenceRequest
from services.notifier.core.alerts import MessageKind
from services.notifier.core.routing import Subject
from services.notifier.core.silences import Silence, SilenceMatchers, muted
from shared.events import Severity
from tests.support.notifier_events import T0


def request(**times: Any) -> SilenceRequest:
    return SilenceRequest.model_validate(
        {"matchers": {"resource": "web-*"}, "created_by": "ana", **times}
    )


@pytest.mark.parametrize(
    "times",
    [
        {"starts_at": T0, "ends_at": T0},
        {"starts_at": T0, "ends_at": T0 - timedelta(seconds=1)},
        {"ends_at": T0 - timedelta(days=1)},  # T0 is in the past: before now
    ],
)
def test_a_request_that_does_not_end_after_it_starts_is_refused_naming_ends_at(
    times: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError) as refused:
        request(**times)
    assert refused.value.errors()[0]["loc"] == ("ends_at",)


def test_a_request_longer_than_the_longest_silence_is_refused() -> None:
    with pytest.raises(ValidationError, match="at most 30 days"):
        request(starts_at=T0, ends_at=T0 + timedelta(days=31))
    assert request(starts_at=T0, ends_at=T0 + timedelta(days=30)).silence().ends_at


def test_a_start_so_late_that_its_end_has_no_date_is_refused() -> None:
    with pytest.raises(ValidationError, match="past year 9999"):
        request(starts_at="9999-12-31T00:00:00Z", duration_s=86400)


def test_a_silence_ended_before_it_began_mutes_nothing() -> None:
    ended = Silence(
        matchers=SilenceMatchers(), starts_at=T0, ends_at=T0, created_by="ana", comment=""
    )
    subject = Subject(
        kind=MessageKind.ANOMALY,
        resource_id="web-1",
        metric="cpu_utilization",
        severity=Severity.CRITICAL,
        labels={},
    )
    assert not muted([ended], subject, T0)
    assert Silence.model_validate_json(ended.model_dump_json()) == ended  # as the API answers it
