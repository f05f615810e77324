"""Who a caller is (people) and what an alert may claim (its resolution's source), no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.gateway.alertmanager import AlertmanagerPayload, to_events
from services.gateway.people import People
from shared.events import AnomalyResolved


def test_a_slack_user_is_their_ids_unless_mapped_to_a_person() -> None:
    people = People({"ana": ["slack:T1:U1", "owner:ana-ci"]})
    assert people.of_slack("T1", "U1") == people.of_key_owner("ana") == "person:ana"
    assert people.of_key_owner("ana-ci") == "person:ana"
    assert people.of_slack("T1", "U2") == "slack:T1:U2"
    assert people.of_slack("T2", "U1") == "slack:T2:U1"  # another workspace's U1
    assert people.of_key_owner("ben") == "person:ben"


@pytest.mark.parametrize(
    "mapping",
    [
        {"ana": ["slack:T1:U1"], "ben": ["slack:T1:U1"]},  # one account, two people
        {"ana": ["U1"]},  # not an identity
        {"a na": ["slack:T1:U1"]},
    ],
)
def test_an_ambiguous_or_malformed_mapping_is_refused(mapping: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError):
        People(mapping)


def test_a_posted_resolved_alert_is_the_alerts_word_whatever_its_labels_say() -> None:
    payload = AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "resolved",
            "alerts": [
                {
                    "status": "resolved",
                    "labels": {
                        "alertname": "cpu_utilization",
                        "instance": "web-1",
                        "source": "detector",
                    },
                    "annotations": {"source": "detector"},
                    "startsAt": datetime(2026, 11, 26, tzinfo=UTC).isoformat(),
                }
            ],
        }
    )
    (event,) = to_events(payload, "c")
    assert isinstance(event, AnomalyResolved) and event.source == "alertmanager"
