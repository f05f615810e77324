"""The notifier's Redis keys. All share the ``{notifier}`` hash tag, so one transaction may
touch a group, the due index and a receiver's queue even on Redis Cluster."""

from __future__ import annotations

from shared.streams import PREFIX

BASE = f"{PREFIX}:{{notifier}}"

GROUPS_DUE = f"{BASE}:groups:due"  # sorted set: group id -> when it is next looked at
DEAD_LETTER = f"{BASE}:dead"  # stream of messages that could not be delivered
DELIVERIES = f"{BASE}:deliveries"  # list, newest first: GET /notifications
OUTBOX = f"{BASE}:outbox"  # list, newest first: messages kept when no webhook is set
SILENCES = f"{BASE}:silences"  # hash: silence id -> JSON
DELIVERY_GROUP = "delivery"  # consumer group of every receiver's queue
MARKER_TTL_S = 7 * 24 * 3600


def group(gid: str) -> str:
    """Hash: ``meta`` -> the group's state, ``a:<fingerprint>`` -> one alert."""
    return f"{BASE}:group:{gid}"


def alert_groups(fingerprint: str) -> str:
    """Set of the group ids holding this resource x metric."""
    return f"{BASE}:alert:{fingerprint}"


def queue(receiver: str) -> str:
    """Stream of rendered messages waiting for one receiver."""
    return f"{BASE}:queue:{receiver}"


def enqueued(message_id: str) -> str:
    """Marker: this message was queued once (a redelivered record does not queue it again)."""
    return f"{BASE}:enqueued:{message_id}"


def sent(message_id: str) -> str:
    """Marker: the receiver accepted this message."""
    return f"{BASE}:sent:{message_id}"


def silence_request(request_id: str) -> str:
    """Marker: the silence a request with this ``request_id`` created (its JSON, as created)."""
    return f"{BASE}:silence-request:{request_id}"


def rate(receiver: str) -> str:
    return f"{BASE}:rate:{receiver}"
