"""How far from the receiving clock a sample's time may be (no I/O).

One sample's timestamp moves its series' clock: the detector skips every sample not newer than
the newest it has seen, so a single sample dated 9999-12-31 would make every real sample after
it "old" and silence the series for good (hard limits included). Every entry point therefore
refuses a time more than ``max_future_s`` ahead of its own clock or more than ``max_past_s``
behind it (``SCOPS_MAX_FUTURE_S``, ``SCOPS_MAX_PAST_S``; the gateway and the detector read the
same variables), and the detector drops what still arrives too far ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_MAX_FUTURE_S = 300.0
DEFAULT_MAX_PAST_S = 7 * 86400.0


def _span(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _how_far(seconds: float) -> str:
    """A distance in time for people, its two largest units: "2 h 7 min", "10 min 36 s"."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.3g} s"
    days, rest = divmod(whole, 86400)
    if days >= 7:
        return f"{days} days"
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    first = next(i for i, (count, _) in enumerate(parts) if count)
    return " ".join(f"{count} {unit}" for count, unit in parts[first : first + 2] if count)


@dataclass(frozen=True, slots=True)
class TimeBounds:
    max_future_s: float = DEFAULT_MAX_FUTURE_S
    max_past_s: float = DEFAULT_MAX_PAST_S

    def too_far_ahead(self, at: datetime, now: datetime, *, numbers: bool = True) -> str | None:
        """Why ``at`` is refused as the future (None: it is not). ``numbers``: the field also
        takes seconds since the epoch (else a reason about milliseconds would be none)."""
        ahead = (at - now).total_seconds()
        if ahead <= self.max_future_s:
            return None
        # Years ahead: milliseconds read as seconds; hours: a local time sent without its zone.
        cause = (
            "a number is read as seconds since the epoch, not milliseconds"
            if ahead > 365 * 86400
            else "a time without a zone is read as UTC"
        )
        if ahead > 365 * 86400 and not numbers:
            cause = "a date years ahead: check its year"
        return (
            f"{at.isoformat()} is {_how_far(ahead)} ahead of the receiving clock; at most "
            f"{_span(self.max_future_s)} ahead is accepted ({cause})"
        )

    def too_old(self, at: datetime, now: datetime) -> str | None:
        """Why ``at`` is refused as the past (None: it is not)."""
        behind = (now - at).total_seconds()
        if behind <= self.max_past_s:
            return None
        return (
            f"{at.isoformat()} is more than {_span(self.max_past_s)} behind the receiving "
            "clock; older times are refused"
        )

    def refusal(self, at: datetime, now: datetime, *, numbers: bool = True) -> str | None:
        """Why ``at`` is outside [now - max_past_s, now + max_future_s] (None: inside)."""
        return self.too_far_ahead(at, now, numbers=numbers) or self.too_old(at, now)
