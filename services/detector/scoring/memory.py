"""Bounded memory of discretised contexts: "has this pattern been seen before?".

Why: many incidents are not extreme values but *unfamiliar* ones - a value level that
never occurs at this hour, a sequence of levels the series never produced. Contextual
detectors (CAD OSE, HTM, ARTime) owe their benchmark lead to this; this is a cheap,
constant-memory take on the same idea, written from scratch.

How: values are cut into ``quant_levels`` bins of the known range. Three kinds of
context are looked up in one shared table of 4-bit counters (a hashed count table, two
counters per byte: twice the slots of byte counters for the same memory, which halves
the collisions - measurably steadier results, see EXPERIMENTS.md):

* sequence: the last ``context_length`` levels (a rolling integer key);
* seasonal: the current level together with the time-of-day bin;
* pattern: the levels of the last ``pattern_blocks`` blocks of ``pattern_block``
  samples, each block represented by its extreme farthest from the baseline, so the
  context spans a longer stretch of time and short spikes survive the down-sampling.

A context is *novel* when its counter is zero. Counters saturate at 15 and are all
halved every ``memory_halving_interval`` samples, so patterns that stop occurring are
forgotten (after at most four halvings) and the table never fills up. Collisions only
ever hide novelty (a false "seen"), which errs on the side of fewer alarms.

The sequences (``symbols ** context_length``: 256 with the defaults) are also counted
exactly (4-bit counters in 128 bytes), and a sequence is novel only when both counts are
zero. The exact table is never halved: a pair of levels once seen is part of the series'
repertoire until the grid is rebuilt. Halved with the hashed table, the rarer pairs of
plain noise, seen once since the last halving, came back as "never seen" after every
halving - every 83 minutes at one sample a second, every 17 days at five minutes - and a
series without any incident raised novelty alarms (EXPERIMENTS.md, rows 62 and 67). A
table of its own, with one counter per pair, it cannot fill up.
"""

from __future__ import annotations

import base64
import math
import zlib
from array import array
from dataclasses import dataclass
from typing import Any

from .serial import enc

# Halves both 4-bit counters of a byte at once (used with bytes.translate).
_HALVE = bytes((((i >> 4) >> 1) << 4) | ((i & 15) >> 1) for i in range(256))
_MIX = 0x9E3779B1  # Knuth's multiplicative-hash constant (2**32 / golden ratio)
_MASK = 0xFFFFFFFF
# sequence, seasonal (time of day), pattern, seasonal (time of the week)
_SALTS = (0x5BD1E995, 0x27D4EB2F, 0x165667B1, 0x3C6EF372)
# The most sequences the exact sequence table counts (4-bit counters, two a byte).
_SEQ_EXACT_MAX = 1024


@dataclass(frozen=True, slots=True)
class MemoryParams:
    """Constants derived once per configuration and shared by all memories."""

    levels: int
    symbols: int  # levels + 4: two clamped symbols beyond each end of the grid
    seq_len: int
    seq_modulus: int
    time_bins: int
    slots: int
    grid_reset: float
    block: int
    block_modulus: int
    halving_interval: int
    seq_exact: int  # bytes of the exact sequence table, two counters each (0: none)
    tod_familiar: int
    salts: tuple[int, int, int, int]

    @classmethod
    def build(
        cls,
        levels: int,
        context_length: int,
        time_bins: int,
        slots: int,
        grid_reset_factor: float,
        block: int,
        blocks: int,
        halving_interval: int,
        tod_familiar: int = 1,
        seed: int = 0,
    ) -> MemoryParams:
        symbols = levels + 4
        salts = tuple((s + seed * 0x61C88647) & _MASK for s in _SALTS)
        return cls(
            levels,
            symbols,
            context_length,
            symbols**context_length,
            time_bins,
            slots,
            grid_reset_factor,
            block,
            symbols ** max(blocks - 1, 1),
            halving_interval,
            (symbols**context_length + 1) // 2 if symbols**context_length <= _SEQ_EXACT_MAX else 0,
            tod_familiar,
            (salts[0], salts[1], salts[2], salts[3]),
        )


class ContextMemory:
    """Quantisation grid + hashed count table + rolling context keys."""

    __slots__ = (
        "_p",
        "b",
        "block_key",
        "block_max",
        "block_min",
        "block_n",
        "filled",
        "seq_key",
        "seq_table",
        "since_halving",
        "table",
        "v",
    )

    def __init__(
        self, params: MemoryParams, storage: array[float] | None = None, base: int = 0
    ) -> None:
        """``storage``: an array the grid's origin and level width may be kept in, at
        ``base`` and ``base + 1`` (the detector's: one array of floats per series)."""
        self._p = params
        self.table = bytearray(params.slots // 2)
        self.seq_table = bytearray(params.seq_exact)
        self.v = array("d", (0.0, 0.0)) if storage is None else storage
        self.b = base
        self.v[base] = self.v[base + 1] = 0.0  # origin; width 0 means "no grid yet"
        self.since_halving = 0
        self.restart_sequence()

    def ensure_grid(self, lo: float, hi: float) -> None:
        """(Re)build the grid from the known range ``[lo, hi]`` when needed.

        The grid is fixed once built - levels must keep their meaning for the memory
        to be useful - and is rebuilt (memory cleared) only when the range has grown
        far beyond it.
        """
        p = self._p
        span = hi - lo
        v, b = self.v, self.b
        width = v[b + 1]
        if width > 0.0 and span <= p.grid_reset * p.levels * width:
            return
        v[b] = lo
        v[b + 1] = max(span / p.levels, 1e-9 * max(abs(hi), abs(lo), 1e-12))
        self.table = bytearray(p.slots // 2)
        self.seq_table = bytearray(p.seq_exact)
        self.restart_sequence()

    def restart_sequence(self) -> None:
        """Forget the recent levels (after a gap the next sample is not a successor)."""
        self.filled = 0
        self.seq_key = 0
        self.block_key = 0
        self.block_n = 0
        self.block_max = -math.inf
        self.block_min = math.inf

    def observe(
        self,
        value: float,
        lo: float,
        hi: float,
        time_bin: int,
        centre: float,
        week_bin: int,
        weekly: bool,
    ) -> tuple[float, float, float]:
        """Learn the contexts ending at ``value``; ``[lo, hi]`` is the known range (for
        :meth:`ensure_grid`).

        Returns whether the (sequence, seasonal, pattern) contexts were novel, as 1.0 or
        0.0 (the raw scores of their likelihood streams). ``centre``
        is the current baseline, used to pick the representative extreme of a block.
        The seasonal context is learned by time of day (``time_bin``) and, unless
        ``week_bin`` is -1, by time of the week (``week_bin``: the weekday times
        ``time_bins`` plus ``time_bin``); the weekly one reports novelty when ``weekly``
        (the series has a weekly cycle, see ``seasonal.py``). The caller learns weekly
        contexts while a weekly cycle is likely, so that they are known when it is
        confirmed, and not otherwise (they would only crowd the table).
        """
        p = self._p
        v, b = self.v, self.b
        origin, width = v[b], v[b + 1]
        if not (width > 0.0 and hi - lo <= p.grid_reset * p.levels * width):
            self.ensure_grid(lo, hi)
            origin, width = v[b], v[b + 1]
        table = self.table
        slots = p.slots
        top = p.symbols - 1
        symbol = math.floor((value - origin) / width) + 2
        symbol = 0 if symbol < 0 else (top if symbol > top else symbol)

        # sequence: last seq_len levels
        seq_new = 0.0
        key = (self.seq_key * p.symbols + symbol) % p.seq_modulus
        self.seq_key = key
        if self.filled < p.seq_len:
            self.filled += 1
        if self.filled >= p.seq_len:
            h = ((key ^ p.salts[0]) * _MIX) & _MASK
            slot = (h ^ (h >> 15)) % slots
            byte = table[slot >> 1]
            shift = (slot & 1) << 2
            count = (byte >> shift) & 15
            if count < 15:
                table[slot >> 1] = byte + (1 << shift)
            seq_table = self.seq_table
            if seq_table:
                # never seen in the hashed table (whose collisions only hide novelty) nor
                # in the exact one (which forgets by time as well as by samples)
                byte = seq_table[key >> 1]
                shift = (key & 1) << 2
                exact = (byte >> shift) & 15
                seq_new = 1.0 if count == 0 and exact == 0 else 0.0
                if exact < 15:
                    seq_table[key >> 1] = byte + (1 << shift)
            else:
                seq_new = 1.0 if count == 0 else 0.0

        # seasonal: (level, time-of-day bin)
        h = (((symbol * p.time_bins + time_bin) ^ p.salts[1]) * _MIX) & _MASK
        slot = (h ^ (h >> 15)) % slots
        byte = table[slot >> 1]
        shift = (slot & 1) << 2
        count = (byte >> shift) & 15
        tod_new = 1.0 if count < p.tod_familiar else 0.0
        if count < 15:
            table[slot >> 1] = byte + (1 << shift)
        if week_bin >= 0:
            h = (((symbol * p.time_bins * 7 + week_bin) ^ p.salts[3]) * _MIX) & _MASK
            slot = (h ^ (h >> 15)) % slots
            byte = table[slot >> 1]
            shift = (slot & 1) << 2
            count = (byte >> shift) & 15
            if weekly:
                tod_new = 1.0 if count < p.tod_familiar else 0.0
            if count < 15:
                table[slot >> 1] = byte + (1 << shift)

        # pattern: complete blocks so far plus the current, partial one
        if value > self.block_max:
            self.block_max = value
        if value < self.block_min:
            self.block_min = value
        self.block_n += 1
        bmax, bmin = self.block_max, self.block_min
        far = bmax if bmax - centre >= centre - bmin else bmin
        bsym = math.floor((far - origin) / width) + 2
        bsym = 0 if bsym < 0 else (top if bsym > top else bsym)
        done = self.block_n >= p.block
        key = (self.block_key * p.symbols + bsym) * 2 + done
        h = ((key ^ p.salts[2]) * _MIX) & _MASK
        slot = (h ^ (h >> 15)) % slots
        byte = table[slot >> 1]
        shift = (slot & 1) << 2
        count = (byte >> shift) & 15
        pat_new = 1.0 if count == 0 else 0.0
        if count < 15:
            table[slot >> 1] = byte + (1 << shift)
        if done:
            self.block_key = (self.block_key * p.symbols + bsym) % p.block_modulus
            self.block_n = 0
            self.block_max = -math.inf
            self.block_min = math.inf

        self.since_halving += 1
        if self.since_halving >= p.halving_interval:
            self.since_halving = 0
            self.table = bytearray(table.translate(_HALVE))
        return seq_new, tod_new, pat_new

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        """JSON-friendly state; the table is deflated, then base64 (at most ~4/3 of
        ``memory_slots / 2`` bytes, typically a third of that: most counters are 0)."""
        return {
            "grid": [self.v[self.b], self.v[self.b + 1]],
            # read by versions that halved the exact table (a rollback): "not yet halved"
            "seq_halved": None,
            "seqz": base64.b64encode(_deflate(bytes(self.seq_table))).decode("ascii"),
            "keys": [self.seq_key, self.filled, self.since_halving, self.block_key, self.block_n],
            "block": [enc(self.block_max), enc(self.block_min)],
            "tablez": base64.b64encode(_deflate(bytes(self.table))).decode("ascii"),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`to_state` produced."""
        if "tablez" in state:
            table = zlib.decompress(base64.b64decode(state["tablez"]))
        else:  # saved before the table was deflated
            table = base64.b64decode(state["table"])
        if len(table) != self._p.slots // 2:
            raise ValueError("memory table size does not match memory_slots")
        self.table = bytearray(table)
        self.v[self.b], self.v[self.b + 1] = (float(x) for x in state["grid"])
        keys = [int(k) for k in state["keys"]]
        self.seq_key, self.filled, self.since_halving, self.block_key, self.block_n = keys
        if "seqz" in state:
            seq_table = zlib.decompress(base64.b64decode(state["seqz"]))
            if len(seq_table) != self._p.seq_exact:
                raise ValueError("exact sequence table size does not match the configuration")
            self.seq_table = bytearray(seq_table)
        else:  # saved before the exact table was kept: its counts as the hashed table holds
            self.seq_table = bytearray(self._p.seq_exact)
            for key in range(0, 2 * len(self.seq_table), 2):
                self.seq_table[key >> 1] = self._count(key) | self._count(key + 1) << 4
        bmax, bmin = state["block"]
        self.block_max = -math.inf if bmax is None else float(bmax)
        self.block_min = math.inf if bmin is None else float(bmin)

    def _count(self, key: int) -> int:
        """The hashed table's count of the sequence ``key``."""
        h = ((key ^ self._p.salts[0]) * _MIX) & _MASK
        slot = (h ^ (h >> 15)) % self._p.slots
        return (self.table[slot >> 1] >> ((slot & 1) << 2)) & 15


def _deflate(table: bytes) -> bytes:
    """Deflate a counter table for a checkpoint with run-length matching only: the table is
    mostly runs of zero counters, which this finds at a third of the cost of the default
    strategy, and smaller (on NAB series: ~67 us and ~670 B against ~160 us and ~760 B at
    level 6). Run-length matches reach one byte back, so the smallest window (2^9) loses
    nothing, and memory level 5 still takes a whole 2 KiB table as one block: setting up the
    compressor is most of its cost, ~2.4x less than with the default window and memory
    (the same bytes out). Any zlib reader inflates it, so states saved either way load the
    same."""
    deflater = zlib.compressobj(1, zlib.DEFLATED, 9, 5, zlib.Z_RLE)
    return deflater.compress(table) + deflater.flush()
