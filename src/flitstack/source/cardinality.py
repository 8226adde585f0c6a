"""Distinct-value counting in bounded memory: exact up to a cap, then a HyperLogLog estimate.

The audit needs the exact values of low-cardinality columns (to propose picklists and value
maps) but only an order of magnitude for columns with thousands of values (IDs, dates, amounts).
:class:`DistinctCounter` keeps the values it has seen (and how often, while they are few) until
it holds ``cap`` values, then folds them into a :class:`HyperLogLog` sketch of 4 KiB and forgets
the values, so memory per column is flat whatever the export's size.
"""

from __future__ import annotations

import math
import sys
import zlib
from array import array
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from hashlib import blake2b
from itertools import compress
from operator import itemgetter

#: 2**12 registers: a standard error of 1.04 / sqrt(4096) ≈ 1.6 %
HLL_PRECISION = 12
#: values longer than this are counted by a 128-bit digest instead of being kept whole
LONG_VALUE = 256

_MASK32 = 0xFFFFFFFF
#: 2 ** k: the limits of :class:`HyperLogLog`'s registers share these ints
_POWERS = [1 << k for k in range(33)]
#: bit 56, the low bit of a lane's top byte, marks hashes that may raise a register
_MARK_BIT = 56
_MARK = 1 << _MARK_BIT
#: the byte of a lane packed in ``sys.byteorder`` that holds bit 56
_MARK_BYTE = 7 if sys.byteorder == "little" else 0
#: while the lowest register is below this, each hash is checked against its own register's
#: limit (a gather costs more than the few extra values the floor would let through later)
_GATHER_BELOW = 2
#: the byte order of ``array("Q")``, which packs the hashes
_ORDER = sys.byteorder


@lru_cache(maxsize=64)
def _lanes(n: int, value: int) -> int:
    """``value`` in each of ``n`` 64-bit lanes of one integer."""
    return int.from_bytes(value.to_bytes(8, _ORDER) * n, _ORDER)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def hash32(text: str) -> int:
    """A deterministic, well-mixed 32-bit hash (CRC-32 then the MurmurHash3 finaliser).

    Python's own ``hash`` is salted per process, which would make reports differ run to run.
    """
    h = zlib.crc32(_utf8(text))
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & _MASK32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


class HyperLogLog:
    """Flajolet et al.'s cardinality sketch over 32-bit hashes, with the small-range correction."""

    __slots__ = ("_batches", "_dedupe", "_floor", "_limits", "_m", "_rank_bits", "registers")

    def __init__(self, precision: int = HLL_PRECISION) -> None:
        self._m = 1 << precision
        self._rank_bits = 32 - precision
        self.registers = bytearray(self._m)
        #: a register grows when a hash's low bits are below its limit: 2 ** (bits - register)
        self._limits = [_POWERS[self._rank_bits]] * self._m
        #: no register is below this, so a hash can only raise one if its low bits are below
        #: 2 ** (bits - floor): batches are filtered on that before any per-value work
        self._floor = 0
        self._dedupe = True  # whether batches repeat values enough to drop the repeats first
        self._batches = 0

    def update(self, texts: Iterable[str]) -> None:
        """Add values. :func:`hash32` is computed for all of them at once: their CRC-32s are
        packed into one integer, 64 bits apiece, and mixed there (no product overflows its 64
        bits). The hashes that may raise a register are marked there too (bit 56 of their
        lane): while registers are still empty, against each one's own register (its limit
        gathered in C), later against the lowest register (the floor), which needs no gather.
        Python does per-value work only for the marked ones. A value added twice changes
        nothing: batches that repeat values (dates) are hashed once per value."""
        self._batches += 1
        if self._dedupe or self._batches % 16 == 0:
            if not isinstance(texts, list):
                texts = list(texts)
            distinct = set(texts)
            self._dedupe = len(distinct) * 10 < len(texts) * 9
            if self._dedupe:
                texts = list(distinct)
        bits, floor = self._rank_bits, self._floor
        if floor > bits:
            return  # every register is full
        # cells never hold surrogates; a list first is quicker than an array from the map
        crcs = array("Q", list(map(zlib.crc32, map(str.encode, texts))))
        n = len(crcs)
        if not n:
            return
        m32 = _lanes(n, _MASK32)
        h = int.from_bytes(crcs, _ORDER)
        h = ((h ^ (h >> 16)) & m32) * 0x85EBCA6B & m32
        h = ((h ^ (h >> 13)) & m32) * 0xC2B2AE35 & m32
        h = (h ^ (h >> 16)) & m32
        registers, limits = self.registers, self._limits
        low_mask, index_mask = _POWERS[bits] - 1, self._m - 1
        mark = _lanes(n, _MARK)
        if floor < _GATHER_BELOW:
            # each hash against its own register's limit: low < limit exactly when
            # 2 ** 56 + limit - 1 - low keeps bit 56 set (no lane borrows from the next)
            indexes = array("Q", (h >> bits & _lanes(n, index_mask)).to_bytes(8 * n, _ORDER))
            bounds = array("Q", itemgetter(*indexes)(limits) if n > 1 else [limits[indexes[0]]])
            ceiling = int.from_bytes(bounds, _ORDER) + _lanes(n, _MARK - 1)
            h |= ceiling - (h & _lanes(n, low_mask)) & mark
        else:
            # a hash can raise a register only if its bits [bits - floor, bits) are all zero:
            # then 2 ** 56 minus them (moved up to end at bit 56) keeps bit 56 set
            above = h & _lanes(n, _POWERS[bits] - _POWERS[bits - floor])
            h |= mark - (above << _MARK_BIT - bits) & mark
        if not h & mark:  # no lane marked (often, once the floor is high): no bytes needed
            return
        packed = h.to_bytes(8 * n, _ORDER)
        marks = packed[_MARK_BYTE::8]  # 1 where a lane is marked
        hashes = memoryview(packed).cast("Q")
        for i in compress(range(n), marks):
            value = hashes[i]
            index = value >> bits & index_mask
            low = value & low_mask
            if low < limits[index]:
                # rank = position of the first 1 bit after the index bits (bits + 1 when 0)
                rank = bits + 1 - low.bit_length()
                registers[index] = rank
                limits[index] = _POWERS[bits - rank] if rank <= bits else 0
        while floor <= bits and registers.find(floor) < 0:
            floor += 1
        self._floor = floor

    def estimate(self) -> int:
        m = self._m
        alpha = 0.7213 / (1 + 1.079 / m)
        total = math.fsum(2.0**-r for r in self.registers)
        raw = alpha * m * m / total
        zeros = self.registers.count(0)
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))  # linear counting for small sets
        return round(raw)


def distinct_key(text: str) -> str:
    """The key a value is counted under: itself, or a digest when it is very long (notes)."""
    if len(text) <= LONG_VALUE:
        return text
    digest = blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{text[:64]}… #{digest}"


class DistinctCounter:
    """Counts distinct values exactly up to ``cap``, then estimates them with HyperLogLog.

    How often each value occurs is kept while at most ``counted`` values are distinct (what a
    report lists as a column's top values); past that only which values were seen is kept, a
    set being several times cheaper to fill than a table of counts."""

    __slots__ = ("cap", "counted", "counts", "seen", "sketch")

    def __init__(self, cap: int, counted: int | None = None) -> None:
        self.cap = cap
        self.counted = cap if counted is None else min(counted, cap)
        self.counts: Counter[str] | None = Counter()
        self.seen: set[str] | None = None
        self.sketch: HyperLogLog | None = None

    @property
    def exact(self) -> bool:
        return self.sketch is None

    def update(self, texts: list[str], longest: int | None = None) -> None:
        """Add a batch of non-null, stripped values (``longest``: when the caller knows it, the
        length of the longest or more, such as the longest the column has had so far)."""
        if longest is None or longest > LONG_VALUE:  # the batch's own, when it may matter
            longest = max(map(len, texts), default=0)
        if longest > LONG_VALUE:
            texts = [distinct_key(t) for t in texts]
        if self.counts is not None:
            self.counts.update(texts)
            if len(self.counts) <= self.counted:
                return
            self.seen, self.counts = set(self.counts), None
        elif self.seen is not None:
            self.seen.update(texts)
        else:
            assert self.sketch is not None
            self.sketch.update(texts)
            return
        if len(self.seen) > self.cap:
            self.sketch = HyperLogLog()
            self.sketch.update(list(self.seen))
            self.seen = None

    def value(self) -> int:
        """Exact count, or the estimate (never below the cap it has exceeded)."""
        if self.counts is not None:
            return len(self.counts)
        if self.seen is not None:
            return len(self.seen)
        assert self.sketch is not None
        return max(self.sketch.estimate(), self.cap + 1)
