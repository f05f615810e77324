"""ChatOps answers about anomalies link to their incident pages in the operator console."""

from __future__ import annotations

import uuid

from services.gateway.chatops.chat_engine import with_incident_links
from services.gateway.chatops.replies import Answer, Outcome

CONSOLE = "https://ops.example/console"


def test_an_explained_anomaly_links_to_its_incident_page() -> None:
    anomaly_id = str(uuid.uuid4())
    answer = Answer(Outcome.ANSWERED, "*Anomaly*", {"anomaly_id": anomaly_id})
    linked = with_incident_links(answer, CONSOLE)
    page = f"{CONSOLE}/incidents/{anomaly_id}"
    assert linked.text == f"*Anomaly*\nIncident page: <{page}|incident {anomaly_id[:8]}>"
    assert linked.data["incident_urls"] == [page]


def test_a_resources_open_anomalies_each_link_to_their_page() -> None:
    ids = [str(uuid.uuid4()) for _ in range(2)]
    answer = Answer(Outcome.ANSWERED, "web-1 has 2 open", {"resource": "web-1", "open": ids})
    linked = with_incident_links(answer, CONSOLE)
    assert linked.text.count("/incidents/") == 2
    assert linked.text.splitlines()[-1].startswith("Incident pages: <")


def test_an_answer_about_no_incident_is_left_alone() -> None:
    answer = Answer(Outcome.ANSWERED, "Nothing is wrong", {"resource": "web-1", "open": []})
    assert with_incident_links(answer, CONSOLE) == answer
