"""A batch says whose key sent it, and keeps saying so however the detector cuts it."""

from __future__ import annotations

from services.gateway.api_keys import Role
from shared.events import MetricBatch
from shared.metric_batches import decode_columns, encode_columns, from_batch

T = 1_700_000_000_000_000


def test_the_sender_survives_the_stream_and_the_detectors_parts() -> None:
    fields = encode_columns(["h"] * 5, ["cpu"] * 5, [1.0] * 5, [T] * 5, None, "cid", "person:olga")
    batch = decode_columns(fields["data"])
    assert batch.sent_by == "person:olga"
    assert [part.sent_by for part in batch.parts(2)] == ["person:olga"] * 3
    model = MetricBatch.model_validate_json(fields["data"])
    assert model.sent_by == "person:olga" and from_batch(model).sent_by == "person:olga"


def test_data_nobody_sent_says_so() -> None:
    fields = encode_columns(["h"], ["cpu"], [1.0], [T], None, "cid")
    assert decode_columns(fields["data"]).sent_by is None
    assert b"sent_by" not in (fields["data"] if isinstance(fields["data"], bytes) else b"")


def test_a_long_owner_is_kept_as_the_remediator_keeps_a_person() -> None:
    """A key's owner is free text: what is sent as its sender is cut where the remediator
    cuts the person who approves (so the two still compare equal), never refused."""
    from urllib.parse import quote

    from services.gateway.auth import Principal
    from services.remediator.api.deps import get_person

    person = "person:team-" + "x" * 300
    sender = Principal("k1", "ci", Role.INGEST, person).sender
    assert sender is not None and len(sender) == 256
    assert sender == get_person(quote(person, safe=":@"))
    fields = encode_columns(["h"], ["cpu"], [1.0], [T], None, "cid", person)
    assert decode_columns(fields["data"]).sent_by == sender
