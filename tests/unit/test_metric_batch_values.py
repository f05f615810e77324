"""Reading a column batch refuses a value that is not a finite number, and only such a value."""

from __future__ import annotations

import pytest

from shared.events import EventDecodeError
from shared.metric_batches import decode_columns, encode_columns


def _payload(values: list[float]) -> bytes | str:
    n = len(values)
    return encode_columns(["h"] * n, ["cpu"] * n, values, [1_700_000_000_000_000] * n, None)["data"]


def test_values_whose_sum_overflows_are_still_finite_and_read() -> None:
    batch = decode_columns(_payload([1.7e308, 1.7e308, -1.0]))
    assert batch.value == [1.7e308, 1.7e308, -1.0]


@pytest.mark.parametrize("text", ["1e999", "-1e999"])
def test_a_value_beyond_a_double_is_refused(text: str) -> None:
    payload = _payload([1.0, 2.0, 3.0])
    raw = payload.encode() if isinstance(payload, str) else payload
    with pytest.raises(EventDecodeError, match="invalid"):
        decode_columns(raw.replace(b"2.0", text.encode(), 1))
