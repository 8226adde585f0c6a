"""Streaming reader for MDC exports (a folder or a .zip of one).

Every CSV row comes out either as a typed :class:`Row` (with the problems found in it) or as a
:class:`Reject` naming the file, line and reason, so that for every file
``rows_read == rows_yielded + rows_rejected``. Files are decoded per file (a UTF-8/16/32 BOM, valid
UTF-8, else the encoding charset-normalizer finds, else Windows-1252) and never loaded whole into
memory. Hostile input never half-parses: binary files are refused in one line, rows with too few
or too many fields are rejected, control characters are stripped with a problem (or reject the row
when they sit in an ID or a reference).

Records are parsed a batch at a time, a column at a time (:class:`RowBatch`): cells are stripped
and nulled by C-level passes, and each distinct text of a typed column is parsed once while the
file is read; :meth:`Export.read` hands the rows out one by one, :meth:`Export.read_batches`
(the audit) takes whole batches.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import accumulate, chain, compress, count, filterfalse, islice, repeat
from operator import add, ne, or_, sub
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol, cast

from charset_normalizer import from_bytes
from pydantic import BaseModel, ValidationError

from flitstack.errors import BadInput
from flitstack.source import values as v
from flitstack.source.schema import FILES, NULL_SPELLINGS, Column, FileSpec, Kind, spec_for

csv.field_size_limit(16 * 1024 * 1024)

_CHUNK = 1 << 20
#: bytes of a file's head looked at to tell text from binary and to guess a legacy encoding
_SAMPLE = 1 << 16


class HeaderBinding(Protocol):
    """One file's headers → the role names its rows are keyed by (see mapping.roles)."""

    def name_for(self, header: str, position: int) -> str: ...


class BindingSource(Protocol):
    def for_file(self, file: str) -> HeaderBinding | None: ...


class ExportError(BadInput):
    """The export as a whole cannot be read (missing folder, broken zip, bad manifest…)."""


class Manifest(BaseModel):
    """``export.json``: the practice facts the export states about itself."""

    source: str = "My Dental Clinic"
    version: str | None = None
    exported_at: datetime | None = None
    timezone: str = "UTC"
    currency: str = "USD"
    tooth_numbering: str = "universal"
    present: bool = False


@dataclass(slots=True)
class Problem:
    """Something wrong with one value of a row that was still read."""

    file: str
    line: int
    column: str
    kind: str
    message: str
    value: str | None = None


@dataclass(slots=True)
class Reject:
    """A row that could not be read at all."""

    file: str
    line: int
    column: str | None
    reason: str
    raw: dict[str, str] | list[str] = field(default_factory=dict)


@dataclass(slots=True)
class Row:
    """One typed row of an export file."""

    file: str
    line: int  # physical line where the record starts (header is line 1)
    index: int  # 1-based data row number
    values: dict[str, Any]
    raw: dict[str, str]
    problems: list[Problem]
    id_column: str | None = None

    @property
    def source_id(self) -> str:
        value = self.values.get(self.id_column) if self.id_column else None
        return source_id(self.file, self.index, value)


def source_id(file: str, index: int, ident: Any) -> str:
    """A row's identity in the export: its ID, else its file and position among the records."""
    return str(ident) if ident is not None else f"{file}:{index}"


@dataclass
class ReadStats:
    rows_read: int = 0
    rows_yielded: int = 0
    rows_rejected: int = 0
    encoding: str = ""
    newline: str = ""
    #: the field separator, as :func:`detect_delimiter` found it in the header
    delimiter: str = ","
    #: lines above the header, skipped (:func:`detect_layout`)
    preamble: list[str] = field(default_factory=list)
    problems: int = 0


# --- value checks for kinds the reader keeps as text -------------------------------------------

_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CDT = re.compile(r"^D\d{4}$")
_TOOTH_TOKEN = re.compile(
    r"^(?:[1-9]|[12]\d|3[0-2]|[A-Ta-t]|1[1-8]|2[1-8]|3[1-8]|4[1-8]|5[1-5]|6[1-5]|7[1-5]|8[1-5]"
    r"|UR|UL|LR|LL|U|L|(?:UR|UL|LR|LL)[1-8A-Ea-e])$",
    re.IGNORECASE,
)
_SURFACES = frozenset("MODBLFI")


def tooth_text_is_valid(text: str) -> bool:
    """True when text is a tooth, range, quadrant or arch in any notation we accept."""
    t = text.strip().lstrip("#").strip()
    if "-" in t:
        parts = [p.strip().lstrip("#") for p in t.split("-")]
        return len(parts) == 2 and all(_TOOTH_TOKEN.match(p) for p in parts)
    return bool(_TOOTH_TOKEN.match(t))


def _phone_check(text: str) -> str | None:
    """``junk_phone`` unless the number before any extension (``x``, ``ext``) has 7 digits."""
    head = text.split("x", 1)[0]  # "ext" holds an x: cut there too
    if head.isascii():  # the digits deleted in C: what str.isdigit counts in ASCII
        digits = len(head) - len(head.encode("ascii").translate(None, b"0123456789"))
    else:
        digits = sum(map(str.isdigit, head))
    return None if digits >= 7 else "junk_phone"


Parser = Callable[[str], v.ParsedValue]


def _checked(check: Callable[[str], str | None], transform: Callable[[str], str]) -> Parser:
    def parse(text: str) -> v.ParsedValue:
        value = transform(text)
        return v.ParsedValue(value, check(value))

    return parse


def _parser_for(column: Column) -> Parser | None:
    """The parser of a known column's stripped, non-null text, or None for plain text (kept as
    stripped). Parsing ``text.strip()`` gives what ``values.parse_<kind>(text)`` gives.

    The reader calls it once per distinct text of a column while a file is read (see
    :class:`_ParseCache`), never once per cell.
    """
    kind = column.kind
    if kind is Kind.DATE:
        return v.date_from
    if kind is Kind.DATETIME:
        return v.datetime_from
    if kind is Kind.MONEY:
        return v.money_from
    if kind is Kind.INT:
        return v.int_from
    if kind is Kind.YES_NO:
        return v.yes_no_from
    if kind is Kind.ENUM:
        table = v.enum_table(column.values)
        return lambda text: v.enum_from(text, table)
    if kind is Kind.PHONE:
        return _checked(_phone_check, lambda s: s)
    if kind is Kind.EMAIL:
        return _checked(lambda s: None if _EMAIL_SHAPE.match(s) else "invalid_email", str.strip)
    if kind is Kind.TOOTH:
        return _checked(
            lambda s: None if tooth_text_is_valid(s) else "invalid_tooth",
            lambda s: s.lstrip("#").strip(),
        )
    if kind is Kind.CDT:
        return _checked(lambda s: None if _CDT.match(s) else "bad_cdt", str.upper)
    if kind is Kind.CDT_LIST:
        return _checked(
            lambda s: (
                None if all(_CDT.match(c.strip()) for c in s.split(";") if c.strip()) else "bad_cdt"
            ),
            str.upper,
        )
    if kind is Kind.SURFACES:
        return _checked(
            lambda s: None if set(s.upper()) <= _SURFACES else "bad_surfaces", str.upper
        )
    return None


#: distinct texts one column's cache holds before it is emptied (between two batches of rows):
#: dates, amounts, codes and choices repeat (a day's dates, a fee schedule); date/times, phones
#: and e-mails barely do
_CACHE_CAP = 16_384
_CACHE_CAP_UNIQUE = 1_024
_MOSTLY_UNIQUE = frozenset({Kind.DATETIME, Kind.PHONE, Kind.EMAIL})


#: kinds whose new texts are read in bulk, in C, before the rest is parsed one by one (see
#: :meth:`_ParseCache.fill`): each reader gives the texts it read and their values
_BULK_READERS: dict[Kind, Callable[[list[str]], tuple[list[str], list[Any]]]] = {
    Kind.DATE: v.read_dates,
    Kind.DATETIME: v.read_datetimes,
}


class _ParseCache(dict[str | None, Any]):
    """One column's typed values by stripped text, each distinct text parsed once while a file
    is read (``None``, a null, is ``None``); the problem of each text that has one is kept in
    :attr:`problems`. Looking a whole column up is one ``map`` over the dict, in C."""

    __slots__ = ("bulk", "cap", "fresh", "parse", "problems", "size", "unique", "wait")

    #: batches read through the table after one the bulk reader did not read whole
    WAIT = 16

    def __init__(
        self,
        parse: Parser,
        cap: int = _CACHE_CAP,
        bulk: Callable[[list[str]], tuple[list[str], list[Any]]] | None = None,
        unique: bool = False,
    ) -> None:
        super().__init__()
        self.parse = parse
        self.cap = cap
        self.bulk = bulk
        self.problems: dict[str, str] = {}
        self[None] = None
        self.size = len(self)  # after the last fill
        self.fresh = BATCH_ROWS  # texts the last batch brought
        #: texts that barely repeat (date/times): a batch is read whole, with no table
        self.unique = unique and bulk is not None
        self.wait = 0

    def __missing__(self, text: str) -> Any:
        value, problem = self.parse(text)
        if problem is not None:
            self.problems[text] = problem
        self[text] = value
        return value

    def read_whole(self, texts: list[str | None]) -> list[Any] | None:
        """The values of a batch of a column whose texts barely repeat, read by the kind's bulk
        reader at once with no table, when it reads every text (no null, none it leaves to
        the parser, so no problem); else None, and the batch is read through the table, as
        are the next :attr:`WAIT`."""
        if not self.unique or self.wait or not all(texts):
            self.wait = max(self.wait - 1, 0)
            return None
        assert self.bulk is not None
        read, values = self.bulk(cast("list[str]", texts))
        if len(read) == len(texts):
            return values
        self.wait = self.WAIT
        return None

    def fill(self, texts: list[str | None]) -> None:
        """Ready a batch's texts: empty the cache past its cap (bounded memory for columns of
        unique values), then, when the last batch brought many new texts, read the new texts
        the kind's bulk reader takes all at once (dates, date/times), and parse the rest."""
        fresh, self.fresh = self.fresh + len(self) - self.size, 0
        if len(self) > self.cap:
            self.clear()
            self.problems.clear()
            self[None] = None
        if fresh * 8 >= len(texts):
            known = len(self)
            new: list[Any] = list(filterfalse(self.__contains__, set(texts)))  # None is known
            if self.bulk is not None:
                read, values = self.bulk(new)
                if read:
                    self.update(zip(read, values, strict=True))
                    # the bulk reader takes distinct texts of ``new`` only: all when as many
                    new = [] if len(read) == len(new) else list(filterfalse(self.__contains__, new))
            # the rest parsed here, each once, rather than one lookup miss at a time
            parse, problems = self.parse, self.problems
            for text in new:
                value, problem = parse(text)
                self[text] = value
                if problem is not None:
                    problems[text] = problem
            self.fresh = len(self) - known
        self.size = len(self)


class _CellTexts(dict[str, str | None]):
    """One column's text (stripped, None for a null) by cell, for a column whose cells repeat
    (codes, statuses, references, amounts): one lookup per cell instead of a strip and a null
    lookup. Used while a batch brings few new cells, tried again now and then when not.

    ``longest`` is the length of the longest text the column has had in the file so far,
    measured once per new cell here (and once per batch read the plain way)."""

    __slots__ = ("longest", "on", "skipped")

    #: cells held before the table is emptied
    CAP = 1024
    #: batches read the plain way before the table is tried again
    RETRY = 16

    def __init__(self) -> None:
        super().__init__()
        self.on = True
        self.skipped = 0
        self.longest = 0

    def __missing__(self, cell: str) -> str | None:
        stripped = cell.strip()
        text = _NULL_TEXT.get(stripped, stripped)
        self[cell] = text
        if text is not None and len(text) > self.longest:
            self.longest = len(text)
        return text

    def texts(self, column: tuple[str, ...]) -> list[str | None]:
        if len(self) > self.CAP:
            self.clear()
        known = len(self)
        texts = list(map(self.__getitem__, column))
        self.on = (len(self) - known) * 4 < len(column)  # a quarter new at most: worth it
        return texts

    def plain(self, column: tuple[str, ...]) -> list[str | None]:
        """The texts of a batch read the plain way: each cell stripped and nulled in C."""
        stripped = list(map(str.strip, column))
        texts = list(map(_NULL_TEXT.get, stripped, stripped))
        longest = max(map(len, stripped), default=0)
        if longest <= _NULL_LONGEST:  # a null spelling may be the longest: not a text
            longest = max(map(len, filter(None, texts)), default=0)
        if longest > self.longest:
            self.longest = longest
        self.idle()
        return texts

    def idle(self) -> None:
        self.skipped += 1
        if self.skipped % self.RETRY == 0:
            self.on = True


def _cache_for(column: Column) -> _ParseCache | None:
    parse = _parser_for(column)
    if parse is None:
        return None
    unique = column.kind in _MOSTLY_UNIQUE
    cap = _CACHE_CAP_UNIQUE if unique else _CACHE_CAP
    return _ParseCache(parse, cap, _BULK_READERS.get(column.kind), unique)


#: non-ASCII characters whose case folding is ASCII (tests/source check the list is complete):
#: ``is_null`` compares case-folded text, so they may spell a null too
_FOLDS_TO_ASCII = "\xdf\u017f\u1e9e\u212a\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"


def _null_texts() -> dict[str, None]:
    """Every stripped text :func:`values.is_null` reads as null, mapped to None: the empty text
    and each null spelling in every mix of case (every text that case-folds to one)."""
    pieces: dict[str, list[str]] = {}
    for char in [chr(c) for c in range(128)] + list(_FOLDS_TO_ASCII):
        pieces.setdefault(char.casefold(), []).append(char)
    table: dict[str, None] = {"": None}
    for spelling in NULL_SPELLINGS:
        assert spelling.isascii(), "a non-ASCII null spelling needs its case variants listed"
        ways: list[set[str]] = [set() for _ in range(len(spelling) + 1)]
        ways[0].add("")
        for at in range(len(spelling)):
            for fold, chars in pieces.items():
                if ways[at] and spelling.startswith(fold, at):
                    ways[at + len(fold)].update(w + c for w in ways[at] for c in chars)
        table.update(dict.fromkeys(ways[-1]))
    return table


#: stripped text → None for every null spelling: ``map(_NULL_TEXT.get, texts, texts)`` nulls a
#: column in C
_NULL_TEXT = _null_texts()
#: the longest null spelling
_NULL_LONGEST = max(map(len, _NULL_TEXT))


_PROBLEM_MESSAGES = {
    "bad_date": "not a date in any accepted form",
    "bad_datetime": "not a date/time in any accepted form",
    "bad_money": "not an amount of money",
    "bad_int": "not a whole number",
    "bad_yes_no": "not Y/N",
    "bad_enum": "not one of the known values",
    "junk_phone": "not a phone number (fewer than 7 digits)",
    "decimal_id": "an ID written as a decimal number (1001.0): read as the whole number (1001)",
    "excel_text": 'a value Excel was told to keep as text (="00123"): read as the text it holds',
    "invalid_email": "not a valid e-mail address",
    "invalid_tooth": "not a tooth, range, quadrant or arch",
    "bad_cdt": "not a CDT code (D + 4 digits)",
    "bad_surfaces": "surfaces must be letters of MODBLFI",
    "control_characters": "held control characters (such as NUL), which were removed",
}


def problem_message(kind: str) -> str:
    return _PROBLEM_MESSAGES.get(kind, kind)


# --- encoding ---------------------------------------------------------------------------------


#: byte-order marks, UTF-32 before UTF-16 (UTF-32-LE's BOM starts with UTF-16-LE's)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: every byte but the C0 controls text never holds (tab, LF, FF and CR are text)
_TEXT_BYTES = bytes(b for b in range(256) if b >= 0x20 or b in b"\t\n\x0c\r")


def _looks_binary(sample: bytes) -> bool:
    """NUL-heavy (or control-heavy) bytes: an image, an archive, UTF-16 without a BOM…"""
    controls = len(sample.translate(None, _TEXT_BYTES))
    return controls >= 4 and controls * 10 > len(sample)


def _not_a_csv(name: str) -> ExportError:
    return ExportError(f"{name}: not a CSV (binary content)")


def detect_encoding(open_binary: Callable[[], IO[bytes]], name: str = "file") -> str:
    """Decide a file's encoding: a UTF-8/16/32 BOM, else valid UTF-8 (checked in one streaming
    pass), else what charset-normalizer finds in a bounded sample, else Windows-1252.

    Raises :class:`ExportError` "<name>: not a CSV (binary content)" for binary content.
    """
    with open_binary() as fh:
        head = fh.read(_CHUNK)
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                return encoding
        if _looks_binary(head[:_SAMPLE]):
            raise _not_a_csv(name)
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk, offset = head, 0
        try:
            while chunk:
                decoder.decode(chunk)
                offset += len(chunk)
                chunk = fh.read(_CHUNK)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError as exc:
            bad = offset + exc.start
            sample = head[:_SAMPLE]
            if bad >= len(sample):  # let the guess see the bytes that are not UTF-8
                around = max(0, bad - offset - _SAMPLE // 8)
                sample += b"\n" + chunk[around : around + _SAMPLE // 4]
    return _legacy_encoding(sample, name)


#: field separators a file may use: the format's comma first (it wins a tie), then what a
#: spreadsheet saves (Excel writes ';' where the decimal mark is a comma, tabs as "Unicode Text")
DELIMITERS = (",", ";", "\t", "|")
#: a quoted field of a header line, whatever separators it holds
_QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*"')


def detect_delimiter(header_line: str) -> str:
    """A file's field separator, read from its header line: of :data:`DELIMITERS`, the one that
    separates the most names outside quotes (the comma on a tie, or when none separates any)."""
    bare = _QUOTED_FIELD.sub("", header_line)
    counts = [bare.count(d) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))]


#: lines looked at for the header: a report's title and blank lines may come before it
PREAMBLE_LINES = 10


@dataclass(frozen=True)
class Layout:
    """Where a file's header is and how its fields are separated."""

    delimiter: str = ","
    #: the lines above the header (a report's title, blank lines), each one record of the
    #: file, as written without its line ending
    preamble: tuple[str, ...] = ()


def detect_layout(lines: Iterable[str]) -> Layout:
    """A file's :class:`Layout`, from its first lines: the header is the first line that its
    separator (:func:`detect_delimiter`) splits into two names or more, unless it is a title
    holding the separator (``Appointments, printed Nov 20, 2026``: three parts at most, the
    next line two more or over); the lines above it are the preamble. With none such among the
    first :data:`PREAMBLE_LINES`, the first line is the header (a file of one column)."""
    head = [line.rstrip("\r\n") for line in islice(lines, PREAMBLE_LINES + 1)]
    for at, text in enumerate(head[:PREAMBLE_LINES]):
        width = _named(text)
        if width < 2:
            continue
        after = next((t for t in head[at + 1 :] if t.strip()), None)
        if width <= _TITLE_PARTS and after is not None and _named(after) >= width + 2:
            continue  # a title with a comma in it, above the header
        return Layout(detect_delimiter(text), tuple(head[:at]))
    return Layout(detect_delimiter(head[0] if head else ""))


#: parts a title split by its own commas may have (an MDC file has more columns but three)
_TITLE_PARTS = 3


def _named(line: str) -> int:
    """How many non-empty fields a line holds, split by its own separator."""
    fields = next(csv.reader([line], delimiter=detect_delimiter(line)), [])
    return sum(1 for f in fields if f.strip())


def delimiter_name(delimiter: str) -> str:
    """A separator as reports show it ("tab" for a tab)."""
    return "tab" if delimiter == "\t" else delimiter


def _legacy_encoding(sample: bytes, name: str) -> str:
    """The encoding of a sample that is not UTF-8: Windows-1252 when it reads as that (MDC
    runs on Windows), else charset-normalizer's best guess; no text at all is binary."""
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        raise _not_a_csv(name)
    plausible = {best.encoding, *best.could_be_from_charset}
    for match in matches:
        plausible.update((match.encoding, *match.could_be_from_charset))
    if "cp1252" in plausible or best.encoding in ("ascii", "utf_8"):
        return "cp1252"
    return str(best.encoding)


# --- the export -------------------------------------------------------------------------------

#: Pipedrive's limit on one uploaded file. Pipedrive's API reference for POST /v1/files states no
#: size and we could not confirm one in its documentation: 50 MB is an assumption. A larger
#: document is reported as not uploaded rather than read (and sent) whole.
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
#: a zip member outside documents/ (the CSVs, the manifest): an MDC CSV stays far below 2 GB, so a
#: member claiming more is no export file, and reading it would take the whole run
MAX_MEMBER_BYTES = 2 * 1024**3
#: all members together: far above any practice's export, documents included
MAX_ZIP_TOTAL_BYTES = 64 * 1024**3
#: CSVs deflate about 5-15:1 and x-rays, photos and PDFs barely at all, while zeros deflate about
#: 1000:1: a member (or a whole zip) that expands more than this is a zip bomb…
MAX_COMPRESSION_RATIO = 200
#: …once it expands past this (a small, very repetitive file may deflate further)
RATIO_FLOOR_BYTES = 4 * 1024 * 1024
#: the compression methods zipfile reads
_ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_DRIVE = re.compile(r"^[A-Za-z]:")
#: what reading damaged bytes raises (a bad CRC, bad deflate data, a cut-off archive, an I/O error)
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


def _size_text(n: int) -> str:
    """A size as people read it: ``200.0 MB``, ``2.5 GB``."""
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.1f} MB"


def _limit_text(n: int) -> str:
    """A limit as people read it: ``50 MB``, ``2 GB``."""
    return f"{n / 1024**3:g} GB" if n >= 1024**3 else f"{n / 1024**2:g} MB"


def _hostile_member(info: zipfile.ZipInfo, in_documents: bool) -> str | None:
    """Why one zip member makes the zip unsafe to read, from its header alone (None: it does
    not). Documents are not held to :data:`MAX_MEMBER_BYTES`: one too large for Pipedrive is
    reported on its row and never read."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        return "has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "has a '..' path that leads out of the export"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type not in _ZIP_METHODS:
        return f"uses compression method {info.compress_type}, which cannot be read"
    size, packed = info.file_size, max(info.compress_size, 1)
    if not in_documents and size > MAX_MEMBER_BYTES:
        limit = _limit_text(MAX_MEMBER_BYTES)
        return f"expands to {_size_text(size)}, over the {limit} an export file may be"
    if size > RATIO_FLOOR_BYTES and size > MAX_COMPRESSION_RATIO * packed:
        ratio = f"{size // packed}:1 ({_size_text(packed)} to {_size_text(size)})"
        return f"expands {ratio}: a zip bomb"
    return None


def _zip_refusal(path: Path, infos: list[zipfile.ZipInfo], prefix: str) -> str | None:
    """Why a zip is refused before anything in it is read (None: it may be read): each member
    by its header, then the members together (overlapping members, total size, total ratio)."""
    for info in infos:
        rel = info.filename.removeprefix(prefix)
        why = _hostile_member(info, rel.startswith("documents/"))
        if why is not None:
            return f"{path}: zip member {info.filename!r} {why}: refused"
    packed = path.stat().st_size
    total = sum(i.file_size for i in infos)
    if sum(i.compress_size for i in infos) > packed:
        return f"{path}: zip members overlap (the same bytes read as several files): refused"
    if total > MAX_ZIP_TOTAL_BYTES:
        limit = _limit_text(MAX_ZIP_TOTAL_BYTES)
        return f"{path}: zip members add up to {_size_text(total)}, over {limit}: refused"
    if total > RATIO_FLOOR_BYTES and total > MAX_COMPRESSION_RATIO * max(packed, 1):
        ratio = f"{total // max(packed, 1)}:1 ({_size_text(packed)} to {_size_text(total)})"
        return f"{path}: zip expands {ratio} in all, a zip bomb: refused"
    return None


class _CappedReader(io.RawIOBase):
    """A zip member or a document read in chunks, refused in one line naming it once it gives
    more than ``limit`` bytes (whatever its header said) or when its bytes are damaged.

    Seeking is lazy: sizing the stream (to the end and back, as httpx does for an upload) reads
    nothing, and rewinding (a resent upload) reads a zip member again from its start."""

    def __init__(self, inner: IO[bytes], size: int, limit: int, label: str) -> None:
        super().__init__()
        self._inner = inner
        self._size = size
        self._limit = limit
        self._label = label
        self._pos = 0  # where the reader is
        self._at = 0  # where the inner stream is

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            if self._at != self._pos:
                self._inner.seek(self._pos)
                self._at = self._pos
            data = self._inner.read(min(len(view), _CHUNK))
        except _READ_ERRORS as exc:
            raise ExportError(f"{self._label} is damaged: {exc}") from exc
        n = len(data)
        self._pos += n
        self._at += n
        if self._pos > self._limit:
            limit = _limit_text(self._limit)
            raise ExportError(f"{self._label} holds more than the {limit} allowed: refused")
        view[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


@dataclass(frozen=True)
class DocumentFile:
    """One document of the export, read afresh from its start each time it is called: an upload
    streams it in chunks (a retried upload reads it again), so it is never held whole."""

    label: str  # documents/<path>
    size: int  # as the zip header or the file system says
    opener: Callable[[], IO[bytes]]

    def __call__(self) -> IO[bytes]:
        return self.opener()

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:  # an empty document is still a document
        return True

    def sha256(self) -> str:
        """The document's SHA-256 (hex), read in chunks."""
        digest = hashlib.sha256()
        with self() as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


class Export:
    """An MDC export: a folder, or a .zip holding one (optionally under one top-level folder)."""

    def __init__(self, path: Path, bindings: BindingSource | None = None) -> None:
        self.path = path
        #: which header plays which role (from the map); without it headers are matched to the
        #: MDC format's names ignoring case and spaces, and anything else keeps its header
        self.bindings = bindings
        #: slash dates are written day first (25/03/2024): the map's ``date_order``, which
        #: its bindings carry; the reader turns them month first, as MDC writes them
        self.day_first = bool(getattr(bindings, "day_first", False))
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        self.stats: dict[str, ReadStats] = {}
        self._encodings: dict[str, str] = {}
        self._layouts: dict[str, Layout] = {}
        #: the top-level file names, with the folder's modification time when listed
        self._listing: tuple[int, list[str]] | None = None
        #: documents larger than this are rejected on their row, never read (the project's
        #: ``max_document_mb``; default: Pipedrive's limit per file)
        self.max_document_bytes = MAX_DOCUMENT_BYTES
        if path.is_dir():
            pass
        elif path.is_file() and zipfile.is_zipfile(path):
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ExportError(f"{path}: unreadable .zip file: {exc}") from exc
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
            tops = {n.split("/", 1)[0] for n in names if "/" in n}
            roots = [n for n in names if "/" not in n]
            if not any(n.lower().endswith(".csv") for n in roots) and len(tops) == 1:
                self._prefix = tops.pop() + "/"
            # every member's header is checked before any byte of the zip is read
            refusal = _zip_refusal(path, self._zip.infolist(), self._prefix)
            if refusal is not None:
                self._zip.close()
                raise ExportError(refusal)
        elif path.exists():
            raise ExportError(f"{path}: not a folder or a .zip file")
        else:
            raise ExportError(f"{path}: no such export folder or .zip file")
        self.manifest = self._read_manifest()

    # -- files

    def _members(self) -> list[str]:
        """Top-level file names of the export (relative, no prefix). A folder is listed again
        only when it has changed since it was last listed (its modification time)."""
        if self._zip is not None:
            if self._listing is None:
                out = []
                for name in self._zip.namelist():
                    if name.startswith(self._prefix) and not name.endswith("/"):
                        rel = name[len(self._prefix) :]
                        if "/" not in rel:
                            out.append(rel)
                self._listing = (0, out)
            return list(self._listing[1])
        changed = self.path.stat().st_mtime_ns
        if self._listing is None or self._listing[0] != changed:
            self._listing = (changed, [p.name for p in self.path.iterdir() if p.is_file()])
        return list(self._listing[1])

    def _open_binary(self, rel: str) -> IO[bytes]:
        if self._zip is not None:
            return self._open_zip_member(self._prefix + rel, MAX_MEMBER_BYTES)
        return open(self.path / rel, "rb")

    def _open_zip_member(self, member: str, limit: int) -> IO[bytes]:
        """A zip member read in capped chunks; a damaged one raises :class:`ExportError`
        naming it."""
        assert self._zip is not None
        label = f"{self.path}: zip member {member!r}"
        info = self._zip.getinfo(member)
        try:
            inner = self._zip.open(info)
        except _READ_ERRORS as exc:
            raise ExportError(f"{label} is damaged: {exc}") from exc
        return io.BufferedReader(_CappedReader(inner, info.file_size, limit, label), _CHUNK)

    def _find(self, name: str) -> str | None:
        wanted = name.lower() if name.lower().endswith(".csv") else f"{name.lower()}.csv"
        for member in self._members():
            if member.lower() == wanted:
                return member
        return None

    def csv_files(self) -> list[str]:
        """Stems of every CSV file present, known or not (dotfiles ignored), sorted."""
        stems = [
            m[:-4] for m in self._members() if m.lower().endswith(".csv") and not m.startswith(".")
        ]
        # a file the format knows is named as the format names it (Patients.csv → patients),
        # whatever case the practice's system wrote (reading finds it in any case)
        known = {name.casefold(): name for name in FILES}
        return sorted((known.get(s.casefold(), s) for s in stems), key=str.lower)

    def parts(self) -> dict[str, list[str]]:
        """CSV files that are not the format's but are named as a part of one of its files
        (``appointments_2023.csv``, ``Appointments (2).csv``): the format's file → their names.
        MDC writes one file per kind, so such a file is a part split off by hand, whose rows
        the run would not read as the kind's rows."""
        out: dict[str, list[str]] = {}
        for stem in self.csv_files():
            if stem in FILES:
                continue
            found = _PART_OF.match(stem)
            if found is not None:
                out.setdefault(found.group(1).lower(), []).append(f"{stem}.csv")
        return out

    def check_parts(self) -> None:
        """Raise :class:`ExportError` when a CSV file is named as a part of one of the format's
        files (see :meth:`parts`): its rows would be left out of the run."""
        parts = self.parts()
        if parts:
            found = "; ".join(
                f"{', '.join(names)} look{'s' if len(names) == 1 else ''} like "
                f"{'a part' if len(names) == 1 else 'parts'} of {known}.csv"
                for known, names in sorted(parts.items())
            )
            raise ExportError(
                f"{self.path}: {found}: MDC writes one file per kind and the run reads only "
                "those; join the rows into the one file (a single header) or move the file out "
                "of the export, then run again"
            )

    def other_files(self) -> list[str]:
        """Top-level files that are neither CSV nor the manifest (reported by the audit)."""
        return sorted(
            m
            for m in self._members()
            if not m.lower().endswith(".csv") and m != "export.json" and not m.startswith(".")
        )

    def has(self, name: str) -> bool:
        return self._find(name) is not None

    def _read_manifest(self) -> Manifest:
        if "export.json" not in self._members():
            return Manifest()
        try:
            with self._open_binary("export.json") as fh:
                data = json.loads(fh.read().decode("utf-8-sig"))
            if not isinstance(data, dict):
                raise ValueError("the manifest must be a JSON object")
            return Manifest(**data, present=True)
        except (ValueError, ValidationError) as exc:
            raise ExportError(f"{self.path}/export.json: unreadable manifest: {exc}") from exc

    # -- documents

    def _doc_name(self, relpath: str) -> str:
        """``documents/<relpath>`` as a clean relative POSIX path; a path that leads out of
        the folder raises :class:`ExportError`."""
        if "\\" not in relpath and not {"", ".", ".."} & set(relpath.split("/")):
            return f"documents/{relpath}"  # already clean: what PurePosixPath would give
        clean = PurePosixPath(relpath.replace("\\", "/"))
        if clean.is_absolute() or ".." in clean.parts:
            raise ExportError(f"document path escapes the documents folder: {relpath!r}")
        return f"documents/{clean}"

    def _document_size(self, name: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(self._prefix + name).file_size
        return (self.path / name).stat().st_size

    def document_problem(self, relpath: str) -> str | None:
        """Why a document cannot be uploaded (None: it can): missing, a path or a link that leads
        out of the export's documents folder (never followed), or larger than Pipedrive takes
        (never read)."""
        try:
            name = self._doc_name(relpath)
        except ExportError:
            return "the document path leads out of the documents folder: refused"
        if self._zip is None:
            base = (self.path / "documents").resolve()
            target = (self.path / name).resolve()
            if not target.is_relative_to(base):
                return "the document is a link out of the documents folder: refused"
        if not self.document_exists(relpath):
            return "document file is missing from the export's documents folder"
        size = self._document_size(name)
        if size > self.max_document_bytes:
            return (
                f"the document is {_size_text(size)}, over the "
                f"{_limit_text(self.max_document_bytes)} limit per file: not uploaded"
            )
        return None

    def document_exists(self, relpath: str) -> bool:
        try:
            name = self._doc_name(relpath)
        except ExportError:
            return False
        if self._zip is not None:
            try:
                self._zip.getinfo(self._prefix + name)
                return True
            except KeyError:
                return False
        try:  # one stat, no Path built (a document row at a time, in every audit)
            return stat.S_ISREG(os.stat(f"{self.path}/{name}").st_mode)
        except (OSError, ValueError):  # missing (False), or what Path.is_file raises
            return (self.path / name).is_file()

    def document(self, relpath: str) -> DocumentFile:
        """A document to upload, streamed from the export each time it is opened; raises
        :class:`ExportError` when :meth:`document_problem` finds one."""
        problem = self.document_problem(relpath)
        if problem is not None:
            raise ExportError(f"documents/{relpath}: {problem}")
        name = self._doc_name(relpath)
        return DocumentFile(name, self._document_size(name), lambda: self._open_document(name))

    def _open_document(self, name: str) -> IO[bytes]:
        if self._zip is not None:
            return self._open_zip_member(self._prefix + name, self.max_document_bytes)
        path = self.path / name
        inner = path.open("rb")  # closed with the reader it is handed to
        raw = _CappedReader(inner, path.stat().st_size, self.max_document_bytes, str(path))
        return io.BufferedReader(raw, _CHUNK)

    def open_document(self, relpath: str) -> bytes:
        """A document's bytes (never more than :data:`MAX_DOCUMENT_BYTES`); uploads stream
        :meth:`document` instead."""
        with self.document(relpath)() as fh:
            return fh.read()

    # -- rows

    def _encoding(self, member: str) -> str:
        """A member's encoding, detected once (detection reads the whole file); a binary
        member raises :class:`ExportError` naming it."""
        if member not in self._encodings:
            self._encodings[member] = detect_encoding(lambda: self._open_binary(member), member)
        return self._encodings[member]

    def _layout(self, member: str) -> Layout:
        """A member's field separator and the lines above its header, found in its first
        lines once (see :func:`detect_layout`)."""
        if member not in self._layouts:
            encoding = self._encoding(member)
            with self._open_binary(member) as raw:
                text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
                self._layouts[member] = detect_layout(iter(text.readline, ""))
        return self._layouts[member]

    def columns(self, name: str) -> list[str]:
        """The header of a file exactly as found (stripped of BOM), or [] if absent."""
        member = self._find(name)
        if member is None:
            return []
        encoding, layout = self._encoding(member), self._layout(member)
        with self._open_binary(member) as raw:
            text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
            reader = csv.reader(text, delimiter=layout.delimiter)
            for _ in layout.preamble:  # a report's title above the header: no column
                next(reader, None)
            return next(reader, [])

    def check_headers(self) -> None:
        """Every CSV file is text with a usable header (no column twice, through the map's
        bindings): raises :class:`ExportError` naming the file, before anything is written."""
        for stem in self.csv_files():
            binding = self.bindings.for_file(stem) if self.bindings is not None else None
            _header_map(stem, self.columns(stem), spec_for(stem), binding)

    def read(self, name: str) -> Iterator[Row | Reject]:
        """Stream a file's rows; unknown files come out with text values."""
        stats = ReadStats()
        for batch in self._read_batches(name, stats):
            yield from batch.items(stats)

    def read_batches(self, name: str) -> Iterator[RowBatch]:
        """The rows and rejects of :meth:`read`, a batch of records at a time with each column's
        texts and values together (for readers that take a whole column at once, such as the
        audit); the file's :attr:`stats` count each batch as it comes out."""
        stats = ReadStats()
        for batch in self._read_batches(name, stats):
            batch.count(stats)
            yield batch

    def _read_batches(self, name: str, stats: ReadStats) -> Iterator[RowBatch]:
        member = self._find(name)
        stem = name[:-4] if name.lower().endswith(".csv") else name
        self.stats[stem] = stats
        if member is None:
            return
        stats.encoding = self._encoding(member)
        layout = self._layout(member)
        stats.delimiter, stats.preamble = layout.delimiter, list(layout.preamble)
        spec = spec_for(stem)
        binding = self.bindings.for_file(stem) if self.bindings is not None else None
        with self._open_binary(member) as raw:
            watch = _ControlWatch(raw) if _bytes_show_controls(stats.encoding) else None
            buffer: Any = raw if watch is None else watch
            text = io.TextIOWrapper(buffer, encoding=stats.encoding, errors="replace", newline="")
            yield from _read_batches(stem, spec, text, stats, binding, watch, self.day_first)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> Export:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_export(path: str | Path, bindings: BindingSource | None = None) -> Export:
    """Open an export folder or .zip; raises :class:`ExportError` naming the path if unreadable.

    With ``bindings`` (from the map) rows come out keyed by role whatever the headers say.
    """
    return Export(Path(path), bindings)


#: the name of a part split off a file of the format: its name, then a separator and more
_PART_OF = re.compile(
    r"^(" + "|".join(sorted(map(re.escape, FILES), key=len, reverse=True)) + r")[\s_.(\-]+\S",
    re.IGNORECASE,
)

#: C0 control characters a cell must not hold (tab, CR and LF are text)
_CONTROLS = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\r\n")
_CONTROL = re.compile(f"[{re.escape(_CONTROLS)}]")
_DROP_CONTROLS = dict.fromkeys(map(ord, _CONTROLS))
#: each control shown as its Unicode control picture (NUL → ␀), for problem examples
_SHOW_CONTROLS = {ord(c): 0x2400 + ord(c) for c in _CONTROLS}
_CONTROL_NAMES = (  # noqa: SIM905 (the names read best as a table)
    "NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI "
    "DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US"
).split()


#: the same controls as bytes: in the encodings of :func:`_bytes_show_controls` a control
#: character of the text is this very byte of the file
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if chr(b) not in _CONTROLS)
_BYTE_TRUE_ENCODINGS = frozenset({"utf-8", "utf-8-sig", "cp1252", "iso8859-1", "ascii"})


def _bytes_show_controls(encoding: str) -> bool:
    """Whether text decoded from ``encoding`` holds a C0 control character only where the
    bytes hold that same byte (UTF-8, Windows-1252, Latin-1, ASCII; not UTF-16, UTF-7…)."""
    try:
        return codecs.lookup(encoding).name in _BYTE_TRUE_ENCODINGS
    except LookupError:
        return False


class _ControlWatch(io.BufferedIOBase):
    """A file's bytes passed on unchanged, a chunk at a time, noting which chunks hold a control
    byte or ``="`` (a cell Excel was told to keep as text: ``="1001"``).

    A text wrapper reading lines keeps, between two lines, only text of the last chunk it read.
    So the records read after chunk number ``mark`` was the last one read come from chunks
    ``mark`` and later: :meth:`controls_since` and :meth:`formulas_since` say whether any of
    those could hold a control character or ``="``; when not, the records need no search."""

    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__()
        self._inner = inner
        #: chunks read so far (the last read is chunk number ``reads``)
        self.reads = 0
        #: the number of the last chunk read that held a control byte, ``="`` (-1: none yet)
        self.control_at = -1
        self.formula_at = -1
        self._last = b""

    def readable(self) -> bool:
        return True

    def controls_since(self, mark: int) -> bool:
        return self.control_at >= mark

    def formulas_since(self, mark: int) -> bool:
        return self.formula_at >= mark

    def _look(self, data: bytes) -> None:
        self.reads += 1
        if data.translate(None, _NOT_CONTROL_BYTES):
            self.control_at = self.reads
        if data:
            if b'="' in self._last + data[:1] or b'="' in data:
                self.formula_at = self.reads  # (one cut between two chunks: the later one)
            self._last = data[-1:]

    def read1(self, size: int = -1) -> bytes:
        data = self._inner.read1(size)  # type: ignore[attr-defined]
        self._look(data)
        return bytes(data)

    def read(self, size: int | None = -1) -> bytes:
        data = self._inner.read(-1 if size is None else size)
        self._look(data)
        return data


def control_name(char: str) -> str:
    """The ASCII name of a C0 control character (``"\\x00"`` → ``NUL``)."""
    return _CONTROL_NAMES[ord(char)]


def _header_map(
    stem: str, header: list[str], spec: FileSpec | None, binding: HeaderBinding | None = None
) -> list[str]:
    """The name each column's values are kept under: its role when the map binds it, else the
    format's name matched ignoring case and spaces, else the header itself."""
    names: list[str] = []
    seen: set[str] = set()
    known = {"".join(c.name.split()).casefold(): c.name for c in spec.columns} if spec else {}
    for position, raw_name in enumerate(header):
        clean = raw_name.strip()
        if binding is not None:
            name = binding.name_for(raw_name, position)
        else:
            name = known.get("".join(clean.split()).casefold(), clean) or f"column_{position + 1}"
        if name in seen:
            raise ExportError(f"{stem}.csv line 1: column {name!r} appears twice in the header")
        seen.add(name)
        names.append(name)
    return names


#: records read before they are parsed, column by column, together
BATCH_ROWS = 256


@dataclass(slots=True, eq=False)
class RowBatch:
    """Consecutive records of one file, parsed a column at a time.

    ``starts``, ``indices`` and ``fields`` hold the records that reached parsing (the right
    number of fields, no control character in a key); ``texts`` and ``values`` hold one list per
    column over those records: the stripped text (None for a null) and the typed value;
    ``longest`` the length of each column's longest text in the file so far, this batch's
    parsed records included. Records rejected before parsing sit in ``before`` under the
    position of the parsed record they precede; parsed records missing a required value are in
    ``rejected``.
    """

    file: str
    names: list[str]
    id_column: str | None
    starts: list[int] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    fields: list[list[str]] = field(default_factory=list)
    texts: list[list[str | None]] = field(default_factory=list)
    values: list[list[Any]] = field(default_factory=list)
    longest: list[int] = field(default_factory=list)
    problems: dict[int, list[Problem]] = field(default_factory=dict)
    rejected: dict[int, Reject] = field(default_factory=dict)
    before: dict[int, list[Reject]] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """Records read: rows and rejects."""
        return len(self.starts) + sum(map(len, self.before.values()))

    def rejects(self) -> list[Reject]:
        """Every reject of the batch, in file order."""
        if not self.before:
            return [self.rejected[i] for i in sorted(self.rejected)]
        out: list[Reject] = []
        for position in range(len(self.starts) + 1):
            out.extend(self.before.get(position, ()))
            if position in self.rejected:
                out.append(self.rejected[position])
        return out

    def kept(self) -> list[int] | None:
        """Positions of the parsed records that are rows (None: all of them)."""
        if not self.rejected:
            return None
        return [i for i in range(len(self.starts)) if i not in self.rejected]

    def column(self, name: str, kept: list[int] | None) -> list[Any]:
        """A column's values over the rows (``kept``: from :meth:`kept`), None for each when
        the column is absent: what ``row.values.get(name)`` gives row by row."""
        try:
            values = self.values[self.names.index(name)]
        except ValueError:
            return [None] * (len(self.starts) - len(self.rejected))
        return values if kept is None else [values[i] for i in kept]

    def source_ids(self, kept: list[int] | None) -> list[str]:
        """:attr:`Row.source_id` of each row (``kept``: from :meth:`kept`)."""
        indices = self.indices if kept is None else [self.indices[i] for i in kept]
        idents = self.column(self.id_column, kept) if self.id_column else [None] * len(indices)
        return list(map(source_id, repeat(self.file), indices, idents))

    def present(self, name: str, kept: list[int] | None) -> list[str]:
        """A column's values that are not null, as text, over the rows (``kept``: from
        :meth:`kept`); [] if the column is absent. May be the batch's own list: not to be
        changed."""
        try:
            position = self.names.index(name)
        except ValueError:
            return []
        values = self.values[position]
        plain = values is self.texts[position]  # plain text: a non-empty str or None each
        if kept is not None:
            values = [values[i] for i in kept]
        if plain:
            return values if all(values) else list(filter(None, values))
        return [str(value) for value in values if value is not None]

    def items(self, stats: ReadStats | None = None) -> Iterator[Row | Reject]:
        """Rows and rejects in file order, counted in ``stats`` as each comes out."""
        file, names, id_column = self.file, self.names, self.id_column
        problems, rejected, before = self.problems, self.rejected, self.before
        value_rows = list(zip(*self.values, strict=True)) if self.values else []
        if not value_rows:
            value_rows = [() for _ in self.starts]
        for i, (start, index, fields, values) in enumerate(
            zip(self.starts, self.indices, self.fields, value_rows, strict=True)
        ):
            if before and i in before:
                yield from _counted_rejects(before[i], stats)
            if rejected and i in rejected:
                if stats is not None:
                    stats.rows_read += 1
                    stats.rows_rejected += 1
                yield rejected[i]
                continue
            found = problems.get(i) if problems else None
            if stats is not None:
                stats.rows_read += 1
                stats.rows_yielded += 1
                if found:
                    stats.problems += len(found)
            yield Row(
                file,
                start,
                index,
                dict(zip(names, values, strict=True)),
                dict(zip(names, fields, strict=True)),
                found or [],
                id_column,
            )
        if before and len(self.starts) in before:
            yield from _counted_rejects(before[len(self.starts)], stats)

    def count(self, stats: ReadStats) -> None:
        """Count the whole batch in ``stats`` at once (readers that take it whole)."""
        rejects = sum(map(len, self.before.values())) + len(self.rejected)
        stats.rows_read += len(self.starts) + rejects - len(self.rejected)
        stats.rows_rejected += rejects
        stats.rows_yielded += len(self.starts) - len(self.rejected)
        stats.problems += sum(
            len(found) for i, found in self.problems.items() if i not in self.rejected
        )


#: a slash date's first two numbers (after any leading space): its day and month in an export
#: that writes dates day first
_DAY_FIRST = re.compile(r"^(\s*)(\d{1,2})/(\d{1,2})/")
_SWAPPED = partial(_DAY_FIRST.sub, r"\g<1>\g<3>/\g<2>/")


def month_first(file: str, key: str, text: str) -> str:
    """A cell of an export that writes slash dates day first, read as a date where the reader
    has not turned it month first already (a column the MDC format does not type as a date, the
    value of a date property): ``25/03/2024`` → ``03/25/2024``; any other text as it is."""
    spec = spec_for(file)
    column = spec.column(key) if spec is not None else None
    if column is not None and column.kind in (Kind.DATE, Kind.DATETIME):
        return text  # read month first already
    return _SWAPPED(text)


def _month_first(
    column: tuple[str, ...], records: list[list[str]], position: int
) -> tuple[str, ...]:
    """A date column of an export that writes dates day first, as MDC writes them, month first
    (``25/03/2024 10:15`` → ``03/25/2024 10:15``; ISO dates as they are), in the cells the run
    builds its records from too."""
    swapped = tuple(map(_SWAPPED, column))
    for i in compress(range(len(swapped)), map(ne, swapped, column)):
        records[i][position] = swapped[i]
    return swapped


#: a cell Excel was told to keep as text: ``="00123"`` (quotes inside doubled)
_EXCEL_TEXT = re.compile(r'\s*="((?:[^"]|"")*)"\s*')


def _kept_text(cell: str) -> str | None:
    """The text a ``="text"`` cell holds (quotes inside un-doubled); None for any other cell."""
    found = _EXCEL_TEXT.fullmatch(cell) if "=" in cell else None
    return None if found is None else found.group(1).replace('""', '"')


def _whole_number(text: str) -> str | None:
    """The whole number an ID written as a decimal stands for (``1001.0`` → ``1001``)."""
    found = _DECIMAL_ID.fullmatch(text) if "." in text else None
    return None if found is None else found.group(1)


def _reread(
    stem: str,
    name: str,
    position: int,
    seen: Sequence[str | None],
    records: list[list[str]],
    starts: list[int],
    problems: dict[int, list[Problem]],
    kind: str,
    read: Callable[[str], str | None],
) -> list[str | None]:
    """A batch of one column with each text ``read`` takes (an ID written ``1001.0``, a cell
    ``="00123"``) replaced by what it reads, in the row's cells too (what the run builds
    records from); each such cell counted as a problem of kind ``kind``."""
    out = list(seen)
    message = problem_message(kind)
    for i, text in enumerate(seen):
        new = read(text) if text is not None else None
        if new is not None:
            cell = records[i][position]
            out[i] = records[i][position] = new
            problems.setdefault(i, []).append(Problem(stem, starts[i], name, kind, message, cell))
    return out


#: an ID a spreadsheet or pandas saved as a decimal number: ``1001.0`` is ID ``1001``
_DECIMAL_ID = re.compile(r"(\d+)\.0+")


def _counted_rejects(rejects: list[Reject], stats: ReadStats | None) -> Iterator[Reject]:
    for reject in rejects:
        if stats is not None:
            stats.rows_read += 1
            stats.rows_rejected += 1
        yield reject


def _read_batches(
    stem: str,
    spec: FileSpec | None,
    text: IO[str],
    stats: ReadStats,
    binding: HeaderBinding | None = None,
    watch: _ControlWatch | None = None,
    day_first: bool = False,
) -> Iterator[RowBatch]:
    """A file's records, :data:`BATCH_ROWS` at a time, parsed column by column: each cell is
    stripped and nulled in C, each distinct text of a typed column parsed once. Rows are not
    counted in ``stats`` here (see :meth:`RowBatch.items` and :meth:`RowBatch.count`).

    ``watch``, the file's bytes under ``text``, spares looking for control characters (and
    ``="``) in a batch's records when none of the bytes they were read from holds one."""
    reader = csv.reader(text, strict=True, delimiter=stats.delimiter)
    try:
        for _ in stats.preamble:  # lines above the header (a report's title): not rows
            next(reader)
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ExportError(f"{stem}.csv line 1: unreadable header: {exc}") from exc
    names = _header_map(stem, header, spec, binding)
    width = len(names)
    columns = [spec.column(n) if spec else None for n in names]
    caches = [_cache_for(c) if c is not None else None for c in columns]
    #: a column as messages name it: its header, with the role it stands for when they differ
    shown = [
        n if h.strip() in (n, "") else f"{h.strip()} ({n})"
        for h, n in zip(header, names, strict=True)
    ]
    required = [(pos, shown[pos]) for pos, c in enumerate(columns) if c is not None and c.required]
    id_column = spec.id_column if spec else None
    #: a control character in an ID or a reference rejects the row: what it names is unsure
    keys: dict[int, str] = {}
    for position, (name, column) in enumerate(zip(names, columns, strict=True)):
        if name == id_column or (column is not None and column.kind is Kind.ID):
            keys[position] = f"ID {shown[position]}"
        elif column is not None and column.kind is Kind.REF:
            keys[position] = f"reference {shown[position]}"
    cell_texts = [_CellTexts() for _ in names]
    #: columns of dates whose cells are turned month first (``day_first``)
    dated = {
        position
        for position, column in enumerate(columns)
        if day_first and column is not None and column.kind in (Kind.DATE, Kind.DATETIME)
    }

    def parse(
        starts: list[int], records: list[list[str]], first: int, mark: int, even: bool | None
    ) -> RowBatch:
        """The batch of ``records``, read since chunk ``mark`` of the file was the last read
        (``even``: whether every record is as wide as the header, None when not known)."""
        batch = RowBatch(stem, names, id_column)
        problems = batch.problems
        indices = list(range(first, first + len(records)))
        # hostile records are rare: one test of the whole batch decides whether to look closer
        controls = (watch is None or watch.controls_since(mark)) and _CONTROL.search(
            "".join(chain.from_iterable(records))
        ) is not None
        if even is None:
            even = list(map(len, records)).count(width) == len(records)
        if controls or not even:
            starts, indices, records = _screen(
                stem, names, keys, width, batch, starts, indices, records
            )
        batch.starts, batch.indices, batch.fields = starts, indices, records
        cells = list(zip(*records, strict=True)) if records else [()] * width
        texts_of, values_of = batch.texts, batch.values
        formulas = watch is None or watch.formulas_since(mark)
        for position, (column, cache, known) in enumerate(
            zip(cells, caches, cell_texts, strict=True)
        ):
            if formulas and '="' in "".join(column):
                column = tuple(_reread(stem, names[position], position, column, records,
                                       starts, problems, "excel_text", _kept_text))  # fmt: skip
            if position in dated:
                column = _month_first(column, records, position)
            # a column of few values: each cell's text looked up; else read the plain way
            texts = known.texts(column) if known.on else known.plain(column)
            texts_of.append(texts)
            batch.longest.append(known.longest)
            if cache is None:  # plain text: most cells of an export
                if position in keys and "." in "".join(column):
                    values_of.append(
                        _reread(
                            stem,
                            names[position],
                            position,
                            texts,
                            records,
                            starts,
                            problems,
                            "decimal_id",
                            _whole_number,
                        )
                    )
                else:
                    values_of.append(texts)
                continue
            whole = cache.read_whole(texts)
            if whole is not None:  # every text read, none with a problem
                values_of.append(whole)
                continue
            cache.fill(texts)
            values_of.append(list(map(cache.__getitem__, texts)))
            found = cache.problems
            if found and not found.keys().isdisjoint(texts):
                name = names[position]
                for i, t in enumerate(texts):
                    kind = found.get(t) if t is not None else None
                    if kind is not None:
                        problem = Problem(
                            stem, starts[i], name, kind, problem_message(kind), column[i]
                        )
                        problems.setdefault(i, []).append(problem)
        for position, label in required:
            values = values_of[position]
            if None in values or "" in values:
                for i, value in enumerate(values):
                    if (value is None or value == "") and i not in batch.rejected:
                        raw = dict(zip(names, records[i], strict=True))
                        reason = f"required value {label} is missing"
                        batch.rejected[i] = Reject(stem, starts[i], names[position], reason, raw)
        return batch

    def take(records: list[list[str]], n: int) -> Exception | None:
        """Up to ``n`` more records into ``records`` in one C call; the error that stopped
        the reader, if one did (the records read before it are kept)."""
        try:
            records.extend(islice(reader, n))
        except Exception as exc:
            return exc
        return None

    line = reader.line_num  # lines read so far
    first = 1  # index of the next record
    records: list[list[str]] = []
    mark = 0 if watch is None else watch.reads  # the last chunk read before the batch's records
    failure = take(records, 1)
    if records:  # as the decoder has seen them by the first record
        stats.newline = _newline(text)
    if failure is None:
        failure = take(records, BATCH_ROWS - 1)
    while records:
        after = reader.line_num
        lengths = list(map(len, records))
        even: bool | None = lengths.count(width) == len(records)  # all as wide as the header
        one_line = failure is None and after - line == len(records)
        if one_line and (width > 1 if even else min(lengths) > 1):
            starts = list(range(line + 1, after + 1))  # one line each, none blank
            line = after
        else:  # records over several lines, blank lines or a failure: lines counted
            joined = list(map("".join, records))
            ends = list(accumulate(_lines_taken(joined), initial=line))
            line = after if failure is None else ends[-1]
            # a blank line is no record: no field, or one holding only spaces
            kept = list(
                map(or_, map((1).__lt__, map(len, records)), map(bool, map(str.strip, joined)))
            )
            starts = list(compress(map((1).__add__, ends), kept))
            records = list(compress(records, kept))
            even = None
        if records:
            yield parse(starts, records, first, mark, even)
            first += len(records)
        if failure is not None:
            break
        records = []
        mark = 0 if watch is None else watch.reads
        failure = take(records, BATCH_ROWS)
    if isinstance(failure, csv.Error):
        start = line + 1
        if text.read(1):  # rows follow that can no longer be told apart: none may be lost
            raise ExportError(
                f"{stem}.csv line {start}: unreadable record ({failure}); the rows after it "
                "cannot be read reliably: fix the file or export it again"
            ) from failure
        if reader.line_num > start:  # a quote never closed took the lines after it in
            raise ExportError(
                f"{stem}.csv line {start}: unreadable record ({failure}): a quote opened there "
                f"is never closed and took in the {reader.line_num - start} lines after it, "
                "which cannot be told apart: fix the file or export it again"
            ) from failure
        unreadable = RowBatch(stem, names, id_column)
        unreadable.before[0] = [Reject(stem, start, None, f"unreadable record: {failure}")]
        yield unreadable
    elif failure is not None:  # damaged bytes: the rows read before them came out first
        raise failure


def _lines_taken(joined: list[str]) -> Iterator[int]:
    """The lines each record took (its fields joined), as the reader counts lines: one, and
    one more for each ``\\r\\n``, ``\\r`` and ``\\n`` inside; counted in C."""

    def tally(part: str) -> Iterator[int]:
        return map(str.count, joined, repeat(part))

    breaks = map(sub, map(add, tally("\n"), tally("\r")), tally("\r\n"))
    return map((1).__add__, breaks)


def _newline(text: IO[str]) -> str:
    return "\r\n" if "\r\n" in str(getattr(text, "newlines", "")) else "\n"


def _screen(
    stem: str,
    names: list[str],
    keys: dict[int, str],
    width: int,
    batch: RowBatch,
    starts: list[int],
    indices: list[int],
    records: list[list[str]],
) -> tuple[list[int], list[int], list[list[str]]]:
    """The records of a batch that may be parsed: control characters stripped (with a problem
    on the cell, or a reject when one sits in a key) and records of the wrong width rejected,
    each reject placed in ``batch.before``. Only the records that hold a control character or
    have the wrong width are looked at one by one (found in C); the runs between them are
    kept whole."""
    suspect = sorted(
        {
            *compress(count(), map(_CONTROL.search, map("".join, records))),
            *compress(count(), map(width.__ne__, map(len, records))),
        }
    )
    kept_starts: list[int] = []
    kept_indices: list[int] = []
    kept: list[list[str]] = []
    done = 0
    for at in suspect:
        kept_starts += starts[done:at]
        kept_indices += indices[done:at]
        kept += records[done:at]
        done = at + 1
        start, index, fields = starts[at], indices[at], records[at]
        problems: list[Problem] = []
        if _CONTROL.search("".join(fields)) is not None:
            fields, reason, where = _strip_controls(stem, start, names, keys, fields, problems)
            if reason is not None:
                raw = dict(zip(names, fields, strict=False))
                batch.before.setdefault(len(kept), []).append(
                    Reject(stem, start, where, reason, raw)
                )
                continue
        if len(fields) != width:  # never padded nor cut: which value is which is unknown
            reason = f"row has {len(fields)} fields but the header has {width}"
            batch.before.setdefault(len(kept), []).append(
                Reject(stem, start, None, reason, list(fields))
            )
            continue
        if problems:
            batch.problems[len(kept)] = problems
        kept_starts.append(start)
        kept_indices.append(index)
        kept.append(fields)
    kept_starts += starts[done:]
    kept_indices += indices[done:]
    kept += records[done:]
    return kept_starts, kept_indices, kept


def _strip_controls(
    stem: str,
    line: int,
    names: list[str],
    keys: dict[int, str],
    fields: list[str],
    problems: list[Problem],
) -> tuple[list[str], str | None, str | None]:
    """The row's cells with C0 control characters removed, one ``control_characters`` problem
    per cell that held some, and the reason (and column) to reject the row when an ID or a
    reference held one; a row wider than its header is left to the width check."""
    cleaned: list[str] = []
    for position, cell in enumerate(fields):
        found = _CONTROL.search(cell)
        if found is None:
            cleaned.append(cell)
            continue
        cleaned.append(cell.translate(_DROP_CONTROLS))
        if len(fields) != len(names):
            continue
        name = names[position]
        if position in keys:
            what = control_name(found.group())
            reason = f"{keys[position]} contains a control character ({what})"
            return [c.translate(_DROP_CONTROLS) for c in fields], reason, name
        message = problem_message("control_characters")
        shown = cell.translate(_SHOW_CONTROLS)  # NUL shown as ␀
        problems.append(Problem(stem, line, name, "control_characters", message, shown))
    return cleaned, None, None
