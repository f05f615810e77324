"""Which label of a series names the resource it is about.

Prometheus series (remote_write, or history read back from ``/api/v1/query_range``) carry no
``resource_id``: it is taken from the first of a preference list of labels that the series has
(by default ``instance``, then ``pod``, then ``job``), so the same series maps to the same
resource whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DEFAULT_RESOURCE_LABELS: tuple[str, ...] = ("instance", "pod", "job")


def resource_id_from_labels(
    labels: Mapping[str, str], preference: Sequence[str] = DEFAULT_RESOURCE_LABELS
) -> str | None:
    """The value of the first label in ``preference`` that is present and not empty; None when
    the series has none of them."""
    for name in preference:
        value = labels.get(name)
        if value:
            return value
    return None
