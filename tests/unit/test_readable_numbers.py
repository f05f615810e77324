"""Numbers as an on-call reader takes them in, the same in every message and answer."""

from __future__ import annotations

import math

import pytest

from shared.readable_numbers import number, numbers_apart, value_and_band


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (97.5, "97.5"),
        (0.12345, "0.1235"),
        (1234.5, "1,234"),  # four digits read at a glance
        (12_345.0, "12,345"),  # not 1.234e+04
        (-12_345.6, "-12,346"),
        (3_000_000.0, "3,000,000"),
        (2.5e20, "2.5e+20"),  # too large to write whole
        (0.0000123, "1.23e-05"),
        (0.0, "0"),
        (math.inf, "inf"),
    ],
)
def test_a_value_reads_at_a_glance(value: float, shown: str) -> None:
    assert number(value) == shown


def test_a_value_just_beyond_its_band_never_reads_as_its_edge() -> None:
    assert value_and_band(12_345.0, 9_000.0, 12_344.0) == ("12,345", "9,000", "12,344")
    assert value_and_band(97.51, 20.0, 97.5) == ("97.51", "20", "97.5")
    assert value_and_band(0.123456, 0.0, 0.123455) == ("0.12346", "0", "0.12345")
    assert value_and_band(12_344.7, 0.0, 12_344.6) == ("12,344.7", "0", "12,344.6")


def test_equal_values_read_alike_and_few_digits_are_kept_where_they_suffice() -> None:
    assert numbers_apart(5.0, 5.0, 7.25) == ["5", "5", "7.25"]
    assert numbers_apart(28.09123, 42.2) == ["28.09", "42.2"]
