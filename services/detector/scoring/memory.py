"""Bounded memory of discretised contexts: "has this pattern been seen before?".

Why: many incidents are not extreme values but *unfamiliar* ones - a value level that
never occurs at this hour, a sequence of levels the series never produced. Contextual
detectors (CAD OSE, HTM) owe their benchmark lead to this; this is a cheap, constant
memory take on the same idea, written from scratch.

How: values are cut into ``quant_levels`` bins of the known range. Two kinds of context
are looked up in one shared table of one-byte counters (a hashed count table):

* sequence: the last ``context_length`` levels (a rolling integer key);
* seasonal: the current level together with the time-of-day bin.

A context is *novel* when its counter is zero. Counters saturate at 255 and are all
halved every ``memory_halving_interval`` samples, so patterns that stop occurring are
forgotten and the table never fills up. Collisions only ever hide novelty (a false
"seen"), which errs on the side of fewer alarms.
"""

from __future__ import annotations

import base64
import math
from typing import Any

_HALVE = bytes(i >> 1 for i in range(256))
_MIX = 0x9E3779B1  # Knuth's multiplicative-hash constant (2**32 / golden ratio)
_MASK = 0xFFFFFFFF
_SEQ_SALT = 0x5BD1E995
_TOD_SALT = 0x27D4EB2F
_BLOCK_SALT = 0x165667B1


class ContextMemory:
    """Quantisation grid + hashed count table + rolling sequence key."""

    __slots__ = (
        "_bins",
        "_block",
        "_block_modulus",
        "_k",
        "_levels",
        "_modulus",
        "_reset",
        "_salts",
        "_slots",
        "_symbols",
        "block_key",
        "block_max",
        "block_min",
        "block_n",
        "filled",
        "origin",
        "seq_key",
        "since_halving",
        "table",
        "width",
    )

    def __init__(
        self,
        levels: int,
        context_length: int,
        time_bins: int,
        slots: int,
        grid_reset_factor: float,
        block: int,
        blocks: int,
        seed: int = 0,
    ) -> None:
        self._levels = levels
        self._k = context_length
        self._bins = time_bins
        self._slots = slots
        self._reset = grid_reset_factor
        # Levels outside the grid are clamped to two extra symbols on each side.
        self._symbols = levels + 4
        self._modulus = self._symbols**context_length
        self._block = block
        self._salts = (
            (_SEQ_SALT + seed * 0x61C88647) & _MASK,
            (_TOD_SALT + seed * 0x61C88647) & _MASK,
            (_BLOCK_SALT + seed * 0x61C88647) & _MASK,
        )
        self._block_modulus = self._symbols ** max(blocks - 1, 1)
        self.table = bytearray(slots)
        self.origin = 0.0
        self.width = 0.0  # 0 means "no grid yet"
        self.seq_key = 0
        self.filled = 0  # how many levels the rolling key currently holds
        self.since_halving = 0
        self.block_key = 0  # rolling key of the last complete blocks' levels
        self.block_n = 0  # samples in the current block
        self.block_max = -math.inf
        self.block_min = math.inf

    # ------------------------------------------------------------------ grid
    def ensure_grid(self, lo: float, hi: float) -> None:
        """(Re)build the grid from the known range ``[lo, hi]`` when needed.

        The grid is fixed once built - levels must keep their meaning for the memory
        to be useful - and is rebuilt (memory cleared) only when the range has grown
        far beyond it.
        """
        span = hi - lo
        width = self.width
        if width > 0.0 and span <= self._reset * self._levels * width:
            return
        tiny = 1e-9 * max(abs(hi), abs(lo), 1e-12)
        self.origin = lo
        self.width = max(span / self._levels, tiny)
        self.table = bytearray(self._slots)
        self.restart_sequence()

    def restart_sequence(self) -> None:
        """Forget the recent levels (after a gap the next sample is not a successor)."""
        self.filled = 0
        self.seq_key = 0
        self.block_key = 0
        self.block_n = 0
        self.block_max = -math.inf
        self.block_min = math.inf

    # ------------------------------------------------------------------ lookup
    def _symbol(self, value: float) -> int:
        level = math.floor((value - self.origin) / self.width)
        if level < -2:
            return 0
        if level > self._levels + 1:
            return self._levels + 3
        return level + 2

    def observe(
        self, value: float, time_bin: int, centre: float, halving_interval: int
    ) -> tuple[bool, bool, bool]:
        """Learn the contexts ending at ``value``.

        Returns whether the (sequence, seasonal, pattern) contexts were novel. ``centre``
        is the current baseline: a block is represented by whichever of its extremes
        lies farther from it, so a short spike survives the down-sampling.
        Must be called after :meth:`ensure_grid`.
        """
        symbol = self._symbol(value)
        table = self.table
        slots = self._slots

        seq_novel = False
        key = (self.seq_key * self._symbols + symbol) % self._modulus
        self.seq_key = key
        if self.filled < self._k:
            self.filled += 1
        if self.filled >= self._k:
            slot = _slot(key ^ self._salts[0], slots)
            count = table[slot]
            seq_novel = count == 0
            if count < 255:
                table[slot] = count + 1

        slot = _slot((symbol * self._bins + time_bin) ^ self._salts[1], slots)
        count = table[slot]
        tod_novel = count == 0
        if count < 255:
            table[slot] = count + 1

        # pattern: the last complete blocks plus the current partial block.
        if value > self.block_max:
            self.block_max = value
        if value < self.block_min:
            self.block_min = value
        self.block_n += 1
        far = (
            self.block_max if self.block_max - centre >= centre - self.block_min else self.block_min
        )
        block_symbol = self._symbol(far)
        done = self.block_n >= self._block
        key = (self.block_key * self._symbols + block_symbol) * 2 + done
        slot = _slot(key ^ self._salts[2], slots)
        count = table[slot]
        pattern_novel = count == 0
        if count < 255:
            table[slot] = count + 1
        if done:
            self.block_key = (self.block_key * self._symbols + block_symbol) % self._block_modulus
            self.block_n = 0
            self.block_max = -math.inf
            self.block_min = math.inf

        self.since_halving += 1
        if self.since_halving >= halving_interval:
            self.since_halving = 0
            self.table = bytearray(table.translate(_HALVE))
        return seq_novel, tod_novel, pattern_novel

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        """JSON-friendly state; the table is base64 (about 4/3 of its byte size)."""
        return {
            "origin": self.origin,
            "width": self.width,
            "seq_key": self.seq_key,
            "filled": self.filled,
            "since_halving": self.since_halving,
            "block": [self.block_key, self.block_n, _enc(self.block_max), _enc(self.block_min)],
            "table": base64.b64encode(bytes(self.table)).decode("ascii"),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`to_state` produced."""
        table = base64.b64decode(state["table"])
        if len(table) != self._slots:
            raise ValueError("memory table size does not match memory_slots")
        self.table = bytearray(table)
        self.origin = float(state["origin"])
        self.width = float(state["width"])
        self.seq_key = int(state["seq_key"])
        self.filled = int(state["filled"])
        self.since_halving = int(state["since_halving"])
        block = state["block"]
        self.block_key = int(block[0])
        self.block_n = int(block[1])
        self.block_max = -math.inf if block[2] is None else float(block[2])
        self.block_min = math.inf if block[3] is None else float(block[3])


def _enc(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _slot(key: int, slots: int) -> int:
    """Table slot of ``key``: multiplicative hash, high bits folded into the low ones.

    (A plain ``key * _MIX % slots`` would only look at the low bits of ``key`` when
    ``slots`` is a power of two, i.e. forget the oldest part of every context.)
    """
    h = (key * _MIX) & _MASK
    return (h ^ (h >> 15)) % slots
