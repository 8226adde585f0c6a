"""Streaming reader for MDC exports (a folder or a .zip of one).

Every CSV row comes out either as a typed :class:`Row` (with the problems found in it) or as a
:class:`Reject` naming the file, line and reason, so that for every file
``rows_read == rows_yielded + rows_rejected``. Files are decoded per file (a UTF-8/16/32 BOM, valid
UTF-8, else the encoding charset-normalizer finds, else Windows-1252) and never loaded whole into
memory. Hostile input never half-parses: binary files are refused in one line, rows with too few
or too many fields are rejected, control characters are stripped with a problem (or reject the row
when they sit in an ID or a reference).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

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
        if self.id_column:
            value = self.values.get(self.id_column)
            if value is not None:
                return str(value)
        return f"{self.file}:{self.index}"


@dataclass
class ReadStats:
    rows_read: int = 0
    rows_yielded: int = 0
    rows_rejected: int = 0
    encoding: str = ""
    newline: str = ""
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
    digits = sum(c.isdigit() for c in text.split("x")[0].split("ext")[0])
    return None if digits >= 7 else "junk_phone"


Parser = Callable[[str], v.ParsedValue]


_NULL_MAX_LEN = max(len(s) for s in NULL_SPELLINGS)


def _checked(check: Callable[[str], str | None], transform: Callable[[str], str]) -> Parser:
    def parse(text: str) -> v.ParsedValue:
        if v.is_null(text):
            return v.NULL
        value = transform(text.strip())
        return v.ParsedValue(value, check(value))

    return parse


#: parse results are cached per column for kinds whose cells repeat a lot (enums, flags, codes,
#: days, amounts); the caches are bounded and live only while one file is read
_SMALL_DOMAIN_CACHE = 512
_REPEATING_CACHE = 8192


def _parser_for(column: Column) -> Parser | None:
    """The parser for a known column, or None for plain text (handled inline by the reader)."""
    parse = _uncached_parser_for(column)
    if parse is None:
        return None
    kind = column.kind
    if kind in (Kind.DATE, Kind.MONEY, Kind.INT):
        return lru_cache(maxsize=_REPEATING_CACHE)(parse)
    if kind in (Kind.ENUM, Kind.YES_NO, Kind.CDT, Kind.CDT_LIST, Kind.SURFACES, Kind.TOOTH):
        return lru_cache(maxsize=_SMALL_DOMAIN_CACHE)(parse)
    return parse


def _uncached_parser_for(column: Column) -> Parser | None:
    kind = column.kind
    if kind is Kind.DATE:
        return v.parse_date
    if kind is Kind.DATETIME:
        return v.parse_datetime
    if kind is Kind.MONEY:
        return v.parse_money
    if kind is Kind.INT:
        return v.parse_int
    if kind is Kind.YES_NO:
        return v.parse_yes_no
    if kind is Kind.ENUM:
        options = column.values
        return lambda text: v.parse_enum(text, options)
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


_PROBLEM_MESSAGES = {
    "bad_date": "not a date in any accepted form",
    "bad_datetime": "not a date/time in any accepted form",
    "bad_money": "not an amount of money",
    "bad_int": "not a whole number",
    "bad_yes_no": "not Y/N",
    "bad_enum": "not one of the known values",
    "junk_phone": "not a phone number (fewer than 7 digits)",
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
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        self.stats: dict[str, ReadStats] = {}
        self._encodings: dict[str, str] = {}
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
        """Top-level file names of the export (relative, no prefix)."""
        if self._zip is not None:
            out = []
            for name in self._zip.namelist():
                if name.startswith(self._prefix) and not name.endswith("/"):
                    rel = name[len(self._prefix) :]
                    if "/" not in rel:
                        out.append(rel)
            return out
        return [p.name for p in self.path.iterdir() if p.is_file()]

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

    def columns(self, name: str) -> list[str]:
        """The header of a file exactly as found (stripped of BOM), or [] if absent."""
        member = self._find(name)
        if member is None:
            return []
        encoding = self._encoding(member)
        with self._open_binary(member) as raw:
            text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
            return next(csv.reader(text), [])

    def check_headers(self) -> None:
        """Every CSV file is text with a usable header (no column twice, through the map's
        bindings): raises :class:`ExportError` naming the file, before anything is written."""
        for stem in self.csv_files():
            binding = self.bindings.for_file(stem) if self.bindings is not None else None
            _header_map(stem, self.columns(stem), spec_for(stem), binding)

    def read(self, name: str) -> Iterator[Row | Reject]:
        """Stream a file's rows; unknown files come out with text values."""
        member = self._find(name)
        stem = name[:-4] if name.lower().endswith(".csv") else name
        stats = ReadStats()
        self.stats[stem] = stats
        if member is None:
            return
        stats.encoding = self._encoding(member)
        spec = spec_for(stem)
        binding = self.bindings.for_file(stem) if self.bindings is not None else None
        with self._open_binary(member) as raw:
            text = io.TextIOWrapper(raw, encoding=stats.encoding, errors="replace", newline="")
            yield from _read_rows(stem, spec, text, stats, binding)

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


def _read_rows(
    stem: str,
    spec: FileSpec | None,
    text: IO[str],
    stats: ReadStats,
    binding: HeaderBinding | None = None,
) -> Iterator[Row | Reject]:
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ExportError(f"{stem}.csv line 1: unreadable header: {exc}") from exc
    names = _header_map(stem, header, spec, binding)
    width = len(names)
    columns = [spec.column(n) if spec else None for n in names]
    parsers = [_parser_for(c) if c else None for c in columns]
    required = [c.name for c in columns if c is not None and c.required]
    id_column = spec.id_column if spec else None
    #: a control character in an ID or a reference rejects the row: what it names is unsure
    keys: dict[int, str] = {}
    for position, (name, column) in enumerate(zip(names, columns, strict=True)):
        if name == id_column or (column is not None and column.kind is Kind.ID):
            keys[position] = "ID"
        elif column is not None and column.kind is Kind.REF:
            keys[position] = "reference"
    nulls, null_max = NULL_SPELLINGS, _NULL_MAX_LEN

    last_line = reader.line_num
    index = 0
    while True:
        start = last_line + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if text.read(1):  # rows follow that can no longer be told apart: none may be lost
                raise ExportError(
                    f"{stem}.csv line {start}: unreadable record ({exc}); the rows after it "
                    "cannot be read reliably: fix the file or export it again"
                ) from exc
            stats.rows_read += 1
            stats.rows_rejected += 1
            yield Reject(stem, start, None, f"unreadable record: {exc}")
            break
        last_line = reader.line_num
        if not stats.newline:
            stats.newline = "\r\n" if "\r\n" in str(getattr(text, "newlines", "")) else "\n"
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line: not a record
        stats.rows_read += 1
        index += 1
        problems: list[Problem] = []
        if _CONTROL.search("".join(fields)) is not None:
            fields, reason, where = _strip_controls(stem, start, names, keys, fields, problems)
            if reason is not None:
                stats.rows_rejected += 1
                yield Reject(stem, start, where, reason, dict(zip(names, fields, strict=False)))
                continue
        if len(fields) != width:  # never padded nor cut: which value is which is unknown
            stats.rows_rejected += 1
            yield Reject(
                stem,
                start,
                None,
                f"row has {len(fields)} fields but the header has {width}",
                list(fields),
            )
            continue
        raw = dict(zip(names, fields, strict=True))
        values: dict[str, Any] = {}
        for name, parse, cell in zip(names, parsers, fields, strict=True):
            if parse is None:  # plain text, inlined: most cells of an export
                stripped = cell.strip()
                if not stripped or (len(stripped) <= null_max and stripped.casefold() in nulls):
                    values[name] = None
                else:
                    values[name] = stripped
                continue
            value, problem = parse(cell)
            values[name] = value
            if problem is not None:
                problems.append(Problem(stem, start, name, problem, problem_message(problem), cell))
        missing = None
        for column_name in required:
            if values[column_name] in (None, ""):
                missing = column_name
                break
        if missing is not None:
            stats.rows_rejected += 1
            yield Reject(stem, start, missing, f"required value {missing} is missing", raw)
            continue
        stats.rows_yielded += 1
        stats.problems += len(problems)
        yield Row(stem, start, index, values, raw, problems, id_column)


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
            reason = f"{keys[position]} {name} contains a control character ({what})"
            return [c.translate(_DROP_CONTROLS) for c in fields], reason, name
        message = problem_message("control_characters")
        shown = cell.translate(_SHOW_CONTROLS)  # NUL shown as ␀
        problems.append(Problem(stem, line, name, "control_characters", message, shown))
    return cleaned, None, None
