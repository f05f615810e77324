"""Risk tiers of actions and rules: low runs automatically, high waits for a human."""

from __future__ import annotations

from enum import StrEnum


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {risk: i for i, risk in enumerate(Risk)}


def highest(risks: list[Risk]) -> Risk:
    return max(risks, key=lambda r: r.rank, default=Risk.LOW)
