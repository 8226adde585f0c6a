"""Distinct-value counting in bounded memory: exact up to a cap, then a HyperLogLog estimate.

The audit needs the exact values of low-cardinality columns (to propose picklists and value
maps) but only an order of magnitude for columns with thousands of values (IDs, dates, amounts).
:class:`DistinctCounter` keeps the values it has seen (and how often, while they are few) until
it holds ``cap`` values, then folds them into a :class:`HyperLogLog` sketch of 4 KiB and forgets
the values, so memory per column is flat whatever the export's size.

A column whose values never go down (IDs and references of an export sorted by them) is counted
exactly past the cap, with no hash: each value new when it differs from the one before. Its
values are kept deflated meanwhile (a few MiB at most), so that if the column goes down after
all, the sketch is built from them and counting goes on as for any other column.
"""

from __future__ import annotations

import codecs
import math
import sys
import zlib
from array import array
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from hashlib import blake2b
from itertools import accumulate, compress, islice
from operator import itemgetter, lt, ne, sub
from typing import Any, Literal

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
#: a column that never goes down keeps its values deflated up to this many bytes (about a
#: million sorted IDs), then is sketched like any other
RUN_BYTES = 2 * 1024 * 1024
#: what separates the values kept deflated (a value holding it is sketched at once)
_SEP = "\x00"
#: the bytes of whole numbers kept as ranges (with the separator), and a leading zero
_DIGITS = b"0123456789\x00"
_LEADING_ZERO = b"\x000"


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


def _length_first(text: str) -> tuple[int, str]:
    """The (length, text) order: that of whole numbers written plainly (``9`` < ``10``)."""
    return len(text), text


def rising(last: str | None, texts: list[str]) -> list[str] | None:
    """The values of ``texts`` that are new, when none is below the one before it (the first:
    below ``last``) in (length, text) order, which is the order of whole numbers written
    plainly (``9`` < ``10``): then a value is new exactly when it differs from the one before.
    None when some value is below the one before it."""
    if not texts:
        return []
    first = texts[0]
    if last is not None and _length_first(first) < _length_first(last):
        return None
    lengths = list(map(len, texts))
    one_length = lengths.count(lengths[0]) == len(lengths)  # IDs of as many digits
    if one_length and all(map(lt, texts, islice(texts, 1, None))):
        return texts if first != last else texts[1:]  # each above the one before: all new
    # a value repeated in a row (a reference, sorted) counted once: what is left must go up
    steps = map(ne, texts, islice(texts, 1, None))
    new = [first, *compress(islice(texts, 1, None), steps)]
    keys: list[Any] = new if one_length else list(map(_length_first, new))
    if not all(map(lt, keys, islice(keys, 1, None))):
        return None
    return new if first != last else new[1:]


class _Run:
    """The distinct values of a column that has only gone up: what its sketch is built from if
    it goes down later. Whole numbers written plainly are kept as ranges while they follow one
    another (IDs with no gap), nothing per value, else as the gaps between them, deflated
    (sorted references take well under a byte each); other values deflated as they come
    (sorted codes take about two bytes each)."""

    __slots__ = ("chunks", "count", "deflate", "gap_chunks", "gaps", "ranges", "size", "top")

    def __init__(self) -> None:
        # a small window and little state (24 KiB each): sorted values repeat what is just before
        self.deflate = zlib.compressobj(1, zlib.DEFLATED, -12, 4)
        self.chunks: list[bytes] = []
        self.gaps = zlib.compressobj(6, zlib.DEFLATED, -12, 4)
        self.gap_chunks: list[bytes] = []
        #: the largest whole number kept as a gap (each gap is from the one before it)
        self.top = 0
        #: [first, last] of each stretch of whole numbers kept, written plainly
        self.ranges: list[list[int]] = []
        self.count = 0
        self.size = 0

    def add(self, texts: list[str]) -> bool:
        """Keep distinct values, each above the one before it in (length, text) order; False
        when they cannot be kept (one holds the separator, or they outgrow
        :data:`RUN_BYTES`)."""
        if not texts:
            return True
        joined = _SEP.join(texts)
        if joined.count(_SEP) != len(texts) - 1:
            return False
        self.count += len(texts)
        data = (joined + _SEP).encode("utf-8", "surrogatepass")
        if (
            not data.translate(None, _DIGITS)  # digits only
            and data[:1] != b"0"
            and _LEADING_ZERO not in data  # written plainly: no leading zero
            and len(texts[-1]) <= LONG_VALUE  # (as every value counted is)
        ):
            # in (length, text) order whole numbers written plainly are in numeric order
            first, last = int(texts[0]), int(texts[-1])
            if last - first == len(texts) - 1:  # no gap
                if self.ranges and self.ranges[-1][1] == first - 1:
                    self.ranges[-1][1] = last
                else:
                    self.ranges.append([first, last])
                    self.size += 16
            else:
                numbers = list(map(int, texts))
                gaps = map(sub, numbers, [self.top, *numbers])
                self.top = last
                kept = self.gaps.compress(("\n".join(map(str, gaps)) + "\n").encode("ascii"))
                if kept:
                    self.gap_chunks.append(kept)
                    self.size += len(kept)
        else:
            deflated = self.deflate.compress(data)
            if deflated:
                self.chunks.append(deflated)
                self.size += len(deflated)
        return self.size <= RUN_BYTES

    def values(self) -> Iterable[list[str]]:
        """The values kept, a slice at a time (never all of them inflated at once)."""
        inflate = zlib.decompressobj(-12)
        decode = codecs.getincrementaldecoder("utf-8")("surrogatepass").decode
        rest = ""
        for chunk in [*self.chunks, self.deflate.flush()]:
            text = rest + decode(inflate.decompress(chunk))
            *whole, rest = text.split(_SEP)
            if whole:
                yield whole
        inflate, top, rest = zlib.decompressobj(-12), 0, ""
        for chunk in [*self.gap_chunks, self.gaps.flush()]:
            text = rest + inflate.decompress(chunk).decode("ascii")
            *whole, rest = text.split("\n")
            if whole:
                numbers = list(accumulate(map(int, whole), initial=top))
                top = numbers[-1]
                yield list(map(str, islice(numbers, 1, None)))
        for first, last in self.ranges:
            for start in range(first, last + 1, 4096):
                yield list(map(str, range(start, min(start + 4096, last + 1))))


class DistinctCounter:
    """Counts distinct values exactly up to ``cap``, then estimates them with HyperLogLog;
    exactly still while the values never go down (see :func:`rising`).

    How often each value occurs is kept while at most ``counted`` values are distinct (what a
    report lists as a column's top values); past that only which values were seen is kept, a
    set being several times cheaper to fill than a table of counts.

    A counter told not to :attr:`estimate` (a column whose count past the cap decides nothing,
    such as one of dates) stops counting at the cap: its :meth:`value` is then the cap, a
    lower bound, and it spends nothing more on the values that follow."""

    __slots__ = (
        "_rising", "cap", "counted", "counts", "estimate", "last", "run", "seen", "sketch",
        "stopped",
    )  # fmt: skip

    def __init__(self, cap: int, counted: int | None = None) -> None:
        self.cap = cap
        self.counted = cap if counted is None else min(counted, cap)
        self.counts: Counter[str] | None = Counter()
        self.seen: set[str] | None = None
        self.sketch: HyperLogLog | None = None
        #: whether values past the cap feed an estimate (else counting stops there)
        self.estimate = True
        #: past the cap without an estimate: the count is only known to exceed the cap
        self.stopped = False
        #: the last value, while no value has been below the one before it (else None)
        self.last: str | None = None
        #: past the cap while the values only went up: they are counted exactly there
        self.run: _Run | None = None
        self._rising = True

    @property
    def capped(self) -> bool:
        """Whether more values than the cap are distinct (counted past it, or estimated)."""
        return self.counts is None and self.seen is None

    @property
    def exact(self) -> bool:
        """Whether :meth:`value` is the exact count."""
        return self.how == "exact"

    @property
    def how(self) -> Literal["exact", "estimated", "at least"]:
        """How :meth:`value` was counted (when stopped at the cap: at least that many)."""
        if self.stopped:
            return "at least"
        return "estimated" if self.sketch is not None else "exact"

    def update(self, texts: list[str], longest: int | None = None) -> None:
        """Add a batch of non-null, stripped values (``longest``: when the caller knows it, the
        length of the longest or more, such as the longest the column has had so far)."""
        if self.stopped or not texts:
            return
        if longest is None or longest > LONG_VALUE:  # the batch's own, when it may matter
            longest = max(map(len, texts))
        if longest > LONG_VALUE:
            texts = [distinct_key(t) for t in texts]
        if self._rising:
            new = rising(self.last, texts)
            if new is None:
                self._stop_rising()
            else:
                self.last = texts[-1]
                if self.run is not None:
                    if self.run.add(new):
                        return
                    self._stop_rising()  # the values outgrew what is kept: sketched from now on
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
            if not self.estimate:
                self.stopped = True
            else:
                run = _Run() if self._rising else None
                if run is not None and run.add(sorted(self.seen, key=_length_first)):
                    self.run = run
                else:
                    self._stop_rising()
                    self.sketch = HyperLogLog()
                    self.sketch.update(list(self.seen))
            self.seen = None

    def _stop_rising(self) -> None:
        """The column has gone down (or its values can no longer be kept): no more order is
        tracked, and the values kept while it went up, if any, build the sketch."""
        self._rising, self.last = False, None
        if self.run is not None:
            sketch = self.sketch = HyperLogLog()
            for values in self.run.values():
                sketch.update(values)
            self.run = None

    def value(self) -> int:
        """Exact count, or the estimate (never below the cap it has exceeded); the cap itself
        when counting stopped there."""
        if self.counts is not None:
            return len(self.counts)
        if self.seen is not None:
            return len(self.seen)
        if self.run is not None:
            return self.run.count
        if self.sketch is None:
            return self.cap
        return max(self.sketch.estimate(), self.cap + 1)
