"""Stream names, consumer groups and metric sharding.

Every key has a hash tag (``{...}``) so that one stream lives in one Redis Cluster slot, and
metric shards spread over slots. The shard of a resource is a stable hash of its id, so all of
one resource's samples reach the same detector replica in order.
"""

from __future__ import annotations

import zlib

PREFIX = "scops"

ANOMALIES = f"{PREFIX}:{{anomalies}}"
REMEDIATIONS = f"{PREFIX}:{{remediations}}"
NOTIFICATIONS = f"{PREFIX}:{{notifications}}"
SLACK_CLICKS = f"{PREFIX}:{{slack-clicks}}"  # button clicks the gateway answered, to apply

GROUP_DETECTOR = "detector"
GROUP_REMEDIATOR = "remediator"
GROUP_NOTIFIER = "notifier"
GROUP_GATEWAY = "gateway"
GROUP_SLACK_CLICKS = "gateway-slack-clicks"


def metrics_stream(shard: int) -> str:
    return f"{PREFIX}:{{metrics:{shard}}}"


def all_metric_streams(shards: int) -> list[str]:
    return [metrics_stream(i) for i in range(shards)]


def shard_of(resource_id: str, shards: int) -> int:
    """Stable across processes and versions (unlike ``hash()``)."""
    return zlib.crc32(resource_id.encode()) % shards


def dead_letter(stream: str) -> str:
    """The dead-letter stream beside ``stream``, in the same cluster slot."""
    return f"{stream}:dead"


def dead_letter_record(
    fields: dict[bytes, bytes], reason: str, source_id: str, group: str
) -> dict[str, bytes | str]:
    """An entry's fields as its dead letter keeps them, with why, where from and whose: field
    names written by anyone with XADD may not be UTF-8, so they are kept escaped, not lost."""
    record: dict[str, bytes | str] = {
        k.decode("utf-8", "backslashreplace"): v for k, v in fields.items()
    }
    record.update(dead_reason=reason, dead_source_id=source_id, dead_group=group)
    return record
