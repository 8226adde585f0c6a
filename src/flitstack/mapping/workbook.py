"""The mapping workbook: what every source column becomes in Pipedrive, and why.

It is a YAML file a person reads, edits and confirms. The engine reads it like this: for each
``ColumnMap`` with ``migrate: true``, the transformed value goes to ``target`` (person,
organization, deal, activity, note) at the standard field ``field`` or, when ``custom`` is set,
at the custom field created for it (its hash key lands in ``captured_keys`` during setup).
``value_maps`` turn statuses into stages and appointment types into activity types.
``captured_keys`` is filled by setup and is not part of the confirmed digest.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from flitstack.errors import BadInput
from flitstack.mapping.protection import Protection

PIPEDRIVE_FIELD_TYPES = (
    "varchar", "varchar_auto", "text", "double", "monetary", "date", "set", "enum", "user",
    "org", "people", "phone", "time", "timerange", "daterange", "address",
)  # fmt: skip
TARGETS = ("person", "organization", "deal", "activity", "note", "file", "user")
REVIEW_BELOW = 0.75


class WorkbookError(BadInput):
    """The workbook cannot be read; the message names the file, line and field."""


class CustomField(BaseModel):
    name: str
    field_type: str = "varchar"
    options: list[str] = Field(default_factory=list)
    source: str | None = None  # the MDC property a practice-defined field comes from


class ColumnMap(BaseModel):
    file: str
    column: str  # the header exactly as the export has it
    #: the MDC column this one stands for (its role in the schema), whatever its header says;
    #: None for a column the MDC format does not know (it keeps its own header); "" when a
    #: person said it stands for none, even if its header reads like one
    role: str | None = None
    migrate: bool = True
    target: str | None = None
    field: str | None = None  # standard Pipedrive field key
    custom: CustomField | None = None
    transform: str = "text"
    options: dict[str, Any] = Field(default_factory=dict)
    confidence: float = 1.0
    #: share of the column's non-empty values its transform accepts (None: not measured)
    success: float | None = None
    failing: list[str] = Field(default_factory=list)  # a few failing values, masked if personal
    review: bool = False
    reason: str = ""

    @property
    def key(self) -> str:
        """The name a row read through the map holds this column's value under."""
        if self.role == "":
            return f"{self.column} (not an MDC column)"
        return self.role or str(self.options.get("known_as") or "") or self.column

    @property
    def label(self) -> str:
        if not self.migrate:
            return "not migrated"
        if self.custom is not None:
            return f"{self.target}.{self.custom.name} (custom {self.custom.field_type})"
        return f"{self.target}.{self.field}"


class ObjectMap(BaseModel):
    source: str
    files: list[str]
    targets: list[str]
    cardinality: str
    how: str


class ValueMap(BaseModel):
    name: str
    file: str
    column: str
    target: str  # "stage" | "activity_type" | "deal_status" | "done"
    pipeline: str | None = None
    values: dict[str, str]


class Pipeline(BaseModel):
    name: str
    stages: list[str]


class AcceptedLoss(BaseModel):
    """A loss the person accepts: the values of one column (or, without a column, the rows of
    one file) that may fail to arrive, and why that is acceptable. Part of what is confirmed."""

    file: str
    column: str | None = None
    reason: str = Field(min_length=3)


class Workbook(BaseModel):
    version: int = 1
    export: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    objects: list[ObjectMap] = Field(default_factory=list)
    pipelines: list[Pipeline] = Field(default_factory=list)
    value_maps: list[ValueMap] = Field(default_factory=list)
    columns: list[ColumnMap] = Field(default_factory=list)
    #: Person custom fields made from the practice's own property definitions
    custom_properties: list[CustomField] = Field(default_factory=list)
    #: losses a person accepted (with a reason); any other loss over 1 % blocks the full run
    accepted_losses: list[AcceptedLoss] = Field(default_factory=list)
    #: practice facts where the project's value is meant although export.json says otherwise
    #: (timezone, currency, tooth_numbering → the project's value)
    manifest_overrides: dict[str, str] = Field(default_factory=dict)
    #: how the export writes dates with slashes: month first as MDC does (03/25/2024), or day
    #: first (25/03/2024: a practice outside the US, a spreadsheet of another locale); proposed
    #: from the dates that can only be read one way, confirmed with the map
    date_order: Literal["month-first", "day-first"] = "month-first"
    #: per category of health data, what the practice decided to send or withhold
    protection: Protection | None = None
    captured_keys: dict[str, Any] = Field(default_factory=dict)

    def column_map(self, file: str, column: str) -> ColumnMap | None:
        for c in self.columns:
            if c.file == file and c.column == column:
                return c
        return None

    def for_file(self, file: str) -> list[ColumnMap]:
        return [c for c in self.columns if c.file == file]

    def target_for(self, file: str, column: str) -> tuple[str, str]:
        """(target label, reason) for the schema inventory."""
        c = self.column_map(file, column)
        if c is None:
            return ("no target: column not in the map", "")
        if not c.migrate:
            return ("no target", c.reason)
        return (c.label, c.reason)

    def value_map(self, name: str) -> ValueMap | None:
        return next((v for v in self.value_maps if v.name == name), None)

    def custom_fields(self) -> dict[tuple[str, str], CustomField]:
        """Every custom field the map needs, keyed by (target object, field name)."""
        out: dict[tuple[str, str], CustomField] = {}
        for c in self.columns:
            if c.migrate and c.custom is not None and c.target:
                out.setdefault((c.target, c.custom.name), c.custom)
        for prop in self.custom_properties:
            out.setdefault(("person", prop.name), prop)
        return out


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 110
    return yaml


_HEADER = """\
flitstack mapping workbook
Every source column is mapped to a Pipedrive field or marked "migrate: false" with a reason.
Review the entries with "review: true" first. Edit freely (comments are kept), then run
    flitstack map confirm --by "Your Name"
Nothing is written to Pipedrive until the current contents are confirmed.
"""


#: C0 controls (but tab and newline) and DEL: YAML's emitter escapes them inside quoted
#: strings; this is the last guard that the file itself never holds one raw
_CONTROLS = frozenset(chr(c) for c in (*range(0, 9), *range(11, 32), 127))
_CONTROL_ESCAPES = {ord(c): f"\\x{ord(c):02x}" for c in _CONTROLS}


def _fast_yaml() -> YAML:
    """The C emitter when there is one: plain block YAML, keys in the model's order."""
    yaml = YAML(typ="safe", pure=False)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.allow_unicode = True
    yaml.width = 110
    return yaml


def _note(col: ColumnMap) -> str:
    """The comment above an entry, on one line whatever the header holds."""
    note = f"{col.file}.{col.column} → {col.label} · {col.confidence:.0%}"
    note = " ".join(note.translate(_CONTROL_ESCAPES).split())
    return note + " · REVIEW" if col.review else note


def save_workbook(wb: Workbook, path: Path) -> Path:
    """Write the workbook as commented YAML (owner-only): the header, then every column under
    a comment saying where it goes. Written by the C emitter, entry by entry, so a workbook of
    10,000 columns is written in seconds; a later round-trip edit keeps these comments."""
    from flitstack.reporting import write_private

    yaml = _fast_yaml()
    out = io.StringIO()
    out.write("".join(f"# {line}".rstrip() + "\n" for line in _HEADER.splitlines()))
    for key, value in wb.model_dump(mode="json").items():
        if key != "columns" or not value:
            yaml.dump({key: value}, out)
            continue
        out.write("columns:\n")
        for col, entry in zip(wb.columns, value, strict=True):
            item = io.StringIO()
            yaml.dump(entry, item)
            lines = item.getvalue().splitlines()
            out.write(f"  # {_note(col)}\n  - {lines[0]}\n")
            out.write("".join(f"    {line}\n" for line in lines[1:]))
    text = out.getvalue()
    if any(ch in text for ch in _CONTROLS):  # nothing flitstack writes carries them
        text = text.translate(_CONTROL_ESCAPES)
    return write_private(path, text)


def load_raw(path: Path) -> Any:
    """The round-trip YAML document, so a person's comments survive a later save."""
    try:
        return _yaml().load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise WorkbookError(
            f"{path}: no mapping workbook here (run `flitstack map propose`)"
        ) from exc
    except Exception as exc:  # ruamel raises several parser error types
        raise WorkbookError(f"{path}: not valid YAML: {exc}") from exc


def _line_of(doc: Any, loc: tuple[Any, ...]) -> int | None:
    node = doc
    line = None
    for key in loc:
        try:
            lc = node.lc
            line = (lc.item(key) if isinstance(key, int) else lc.key(key))[0] + 1
            node = node[key]
        except Exception:
            break
    return line


def _load_plain(path: Path) -> Any:
    """The workbook as plain data, read by the C parser when there is one (a workbook of
    10,000 columns is read in seconds; the round-trip reader, which keeps comments, is only
    needed to edit it or to name the line of an error)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise WorkbookError(
            f"{path}: no mapping workbook here (run `flitstack map propose`)"
        ) from exc
    try:
        return YAML(typ="safe", pure=False).load(text)
    except Exception as exc:  # the parser raises several error types
        raise WorkbookError(f"{path}: not valid YAML: {exc}") from exc


def load_workbook(path: Path) -> Workbook:
    """Read and check a workbook; errors name the line and field that is wrong."""
    plain = _load_plain(path)
    try:
        wb = Workbook.model_validate(plain)
    except ValidationError as exc:
        doc = load_raw(path)  # the round-trip document knows each value's line
        err = exc.errors()[0]
        line = _line_of(doc, tuple(err["loc"]))
        where = ".".join(str(p) for p in err["loc"])
        raise WorkbookError(
            f"{path}{f' line {line}' if line else ''}: field {where}: {err['msg']}"
        ) from exc
    for c in wb.columns:
        if c.migrate and c.target not in TARGETS:
            raise WorkbookError(f"{path}: {c.file}.{c.column}: unknown target {c.target!r}")
        if c.custom is not None and c.custom.field_type not in PIPEDRIVE_FIELD_TYPES:
            raise WorkbookError(
                f"{path}: {c.file}.{c.column}: Pipedrive has no field type "
                f"{c.custom.field_type!r} (one of {', '.join(PIPEDRIVE_FIELD_TYPES)})"
            )
    return wb


def workbook_digest(source: Path | Workbook) -> str:
    """SHA-256 of the map's meaning: canonical JSON without captured keys."""
    wb = load_workbook(source) if isinstance(source, Path) else source
    data = wb.model_dump(mode="json", exclude={"captured_keys"})
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def store_captured_keys(path: Path, keys: dict[str, Any]) -> None:
    """Record setup's hash keys in the workbook without touching anything a person confirmed."""
    from flitstack.reporting import write_private

    doc = load_raw(path)
    doc["captured_keys"] = keys
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    write_private(path, buffer.getvalue())


def set_protection(path: Path, protection: Protection) -> None:
    """Write the workbook's ``protection`` section, leaving every other line (comments
    included) as it is: the section is replaced as text, so a workbook of any width is
    rewritten in the time it takes to read it."""
    from flitstack.reporting import write_private

    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    block = io.StringIO()
    _fast_yaml().dump({"protection": protection.model_dump(mode="json")}, block)
    start = next((i for i, line in enumerate(lines) if line.startswith("protection:")), None)
    if start is None:
        lines.append(block.getvalue())
    else:
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " #-"):
            end += 1
        lines[start:end] = [block.getvalue()]
    write_private(path, "".join(lines))
    load_workbook(path)  # what was written must read back


def accept_loss(path: Path, file: str, column: str | None, reason: str) -> AcceptedLoss:
    """Record in the workbook that a loss is accepted, and why (voids the confirmation: the
    person confirms the workbook again, so the decision is part of what was confirmed)."""
    from flitstack.reporting import write_private

    entry = AcceptedLoss(file=file, column=column, reason=reason)
    doc = load_raw(path)
    items = doc.get("accepted_losses") or CommentedSeq()
    items = CommentedSeq(
        [i for i in items if not (i.get("file") == file and i.get("column") == column)]
    )
    items.append(CommentedMap(entry.model_dump(mode="json")))
    doc["accepted_losses"] = items
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    write_private(path, buffer.getvalue())
    return entry
