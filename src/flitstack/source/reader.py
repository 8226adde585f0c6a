"""Streaming reader for MDC exports (a folder or a .zip of one).

Every CSV row comes out either as a typed :class:`Row` (with the problems found in it) or as a
:class:`Reject` naming the file, line and reason, so that for every file
``rows_read == rows_yielded + rows_rejected``. Files are decoded per file (UTF-8, UTF-8 with BOM or
Windows-1252) and never loaded whole into memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from pydantic import BaseModel, ValidationError

from flitstack.errors import BadInput
from flitstack.source import values as v
from flitstack.source.schema import NULL_SPELLINGS, Column, FileSpec, Kind, spec_for

csv.field_size_limit(16 * 1024 * 1024)

_CHUNK = 1 << 20


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
    "short_row": "row has fewer fields than the header; missing values read as empty",
}


def problem_message(kind: str) -> str:
    return _PROBLEM_MESSAGES.get(kind, kind)


# --- encoding ---------------------------------------------------------------------------------


def detect_encoding(open_binary: Callable[[], IO[bytes]]) -> str:
    """Decide a file's encoding in one streaming pass: BOM, valid UTF-8, else Windows-1252."""
    with open_binary() as fh:
        head = fh.read(_CHUNK)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk = head
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = fh.read(_CHUNK)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


# --- the export -------------------------------------------------------------------------------


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
        if path.is_dir():
            pass
        elif path.is_file() and zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
            tops = {n.split("/", 1)[0] for n in names if "/" in n}
            roots = [n for n in names if "/" not in n]
            if not any(n.lower().endswith(".csv") for n in roots) and len(tops) == 1:
                self._prefix = tops.pop() + "/"
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
            return self._zip.open(self._prefix + rel)
        return open(self.path / rel, "rb")

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
        return sorted(stems, key=str.lower)

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

    def document_problem(self, relpath: str) -> str | None:
        """Why a document cannot be read (None: it can): missing, or a path or a link that
        leads out of the export's documents folder (never followed)."""
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

    def open_document(self, relpath: str) -> bytes:
        problem = self.document_problem(relpath)
        if problem is not None:
            raise ExportError(f"documents/{relpath}: {problem}")
        name = self._doc_name(relpath)
        if self._zip is not None:
            return self._zip.read(self._prefix + name)
        return (self.path / name).read_bytes()

    # -- rows

    def _encoding(self, member: str) -> str:
        """A member's encoding, detected once (detection reads the whole file)."""
        if member not in self._encodings:
            self._encodings[member] = detect_encoding(lambda: self._open_binary(member))
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
        if len(fields) > width:
            stats.rows_rejected += 1
            yield Reject(
                stem,
                start,
                None,
                f"row has {len(fields)} fields but the header has {width}",
                list(fields),
            )
            continue
        problems: list[Problem] = []
        if len(fields) < width:
            problems.append(
                Problem(stem, start, names[len(fields)], "short_row", problem_message("short_row"))
            )
            fields = fields + [""] * (width - len(fields))
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
