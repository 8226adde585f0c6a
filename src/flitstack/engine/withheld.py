"""Proof that withheld means never sent: every value of a withheld category, read from the
source files, is looked for in the records read back from Pipedrive where it could have gone
(its own record, its patient's person, its plan's deal), and every withheld kind has no record
in the account. The figures come from the source and the account, not from what was sent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from flitstack.engine.records import Setup
from flitstack.engine.staging import group_key
from flitstack.mapping.protection import BY_NAME, Protection
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook
from flitstack.source.reader import Row, open_export
from flitstack.source.schema import FILES, parent_ref, role
from flitstack.source.values import date_from, money_from


@dataclass
class CategoryProof:
    category: str
    label: str
    decision: str
    values_checked: int = 0
    found: int = 0
    records_of_withheld_kinds: int = 0
    where: list[str] = field(default_factory=list)  # record keys (no patient values)

    @property
    def clean(self) -> bool:
        return self.decision != "withhold" or (
            self.found == 0 and self.records_of_withheld_kinds == 0
        )


@dataclass(frozen=True)
class _Probe:
    """What must be in a record for a source value to be there. A distinctive value (a word of
    four letters or more, a phone or ID of seven digits or more) is looked for in every value
    of the record; a bare date or amount is not distinctive (a payment's day is often the day of
    the visit the person's record holds), so it is looked for only in the fields the map sends
    its column to."""

    words: tuple[str, ...] = ()
    digits: str = ""
    day: str = ""  # ISO date of a date value
    amount: Decimal | None = None

    @property
    def empty(self) -> bool:
        return not (self.words or self.digits or self.day or self.amount is not None)


_DATE_LIKE = re.compile(r"\d{1,4}[-/]\d{1,2}[-/]\d{1,4}(?:[ T].*)?")


def _probe(value: str) -> _Probe:
    text = value.strip()
    if len(text) > 40:  # long text: its three longest words (stored as note HTML)
        words = sorted(set(re.findall(r"[^\W_]{4,}", html.escape(text, quote=False).casefold())),
                       key=len, reverse=True)  # fmt: skip
        return _Probe(words=tuple(words[:3]))
    if _DATE_LIKE.fullmatch(text):
        day = date_from(text).value
        if isinstance(day, date):
            return _Probe(day=day.isoformat())
    if not any(c.isalpha() for c in text):
        amount = money_from(text).value
        if isinstance(amount, Decimal):
            return _Probe(amount=amount)
    digits = re.sub(r"\D", "", text)
    # phones and IDs are stored reformatted: their last 7 digits
    return _Probe(
        words=(text.casefold(),) if len(text) >= 4 else (),
        digits=digits[-7:] if len(digits) >= 7 else "",
    )


def _leaves(value: Any, under: str = "") -> Iterator[tuple[str, str]]:
    """Every value of a record read back, as text, with the field key it sits under (a custom
    field's hash key, or a standard field's name). Keys are not values: a 40-character hash
    key holds digits of its own."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, str(k) if under in ("", "custom_fields") else under)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, under)
    elif value is not None and not isinstance(value, bool):
        yield under, str(value)


@dataclass(frozen=True, slots=True)
class _Flat:
    """A record read back, flattened once for all the values looked for in it."""

    leaves: tuple[tuple[str, str], ...]  # (field key, value as text)
    digits: tuple[str, ...]  # each value's digits, value by value
    text: str  # every value, case-folded, one per line

    @classmethod
    def of(cls, record: dict[str, Any]) -> _Flat:
        leaves = tuple(_leaves(record))
        texts = [text for _, text in leaves]
        return cls(leaves, tuple(re.sub(r"\D", "", t) for t in texts),
                   "\n".join(texts).casefold())  # fmt: skip


def _found(
    probe: _Probe, record: _Flat | dict[str, Any] | None, fields: frozenset[str] | None
) -> bool:
    """Whether the value is in the record: a distinctive one in any of its values, a date or
    amount in the fields its column is mapped to (in any field when ``fields`` is None)."""
    if not record:
        return False
    flat = record if isinstance(record, _Flat) else _Flat.of(record)
    if probe.day or probe.amount is not None:
        for key, text in flat.leaves:
            if fields is not None and key not in fields:
                continue
            if probe.day and text.strip()[:10] == probe.day:
                return True
            if probe.amount is not None and money_from(text.strip()).value == probe.amount:
                return True
        return False
    if probe.digits and any(probe.digits in digits for digits in flat.digits):
        return True
    return bool(probe.words) and all(w in flat.text for w in probe.words)


def _mapped_fields(wb: Workbook, setup: Setup, file: str, role: str) -> frozenset[str]:
    """The keys of the Pipedrive fields the confirmed map sends a column to (as confirmed,
    before a withheld category takes it out): where a bare date or amount of it would be."""
    keys = set()
    for c in wb.for_file(file):
        if c.key != role or not c.target:
            continue
        if c.custom is not None and (spec := setup.fields.get((c.target, c.custom.name))):
            keys.add(str(spec["key"]))
        elif c.field:
            keys.add(c.field)
    return frozenset(keys)


def prove_withheld(
    export_path: Path,
    bindings: Bindings,
    protection: Protection | None,
    records: dict[str, dict[str, Any] | None],
    wb: Workbook | None = None,
    setup: Setup | None = None,
) -> list[CategoryProof]:
    """One proof per category: for a withheld one, how many source values were looked for and
    how many were found in the account (must be 0). With the confirmed map and the account's
    field keys, a bare date or amount is looked for in its column's own fields; without them,
    in every field (stricter: a coincidence counts as found)."""
    if protection is None:
        return []
    proofs = []
    flats: dict[str, _Flat | None] = {}  # the records last looked in (a patient's rows follow)

    def flat(place: str) -> _Flat | None:
        if place not in flats:
            if len(flats) >= 4096:
                flats.clear()
            record = records.get(place)
            flats[place] = _Flat.of(record) if record else None
        return flats[place]

    with open_export(export_path, bindings) as export:
        for name, decision in protection.decisions.items():
            category = BY_NAME.get(name)
            if category is None:
                continue
            proof = CategoryProof(name, category.label, decision.decision or "undecided")
            proofs.append(proof)
            if decision.decision != "withhold":
                continue
            for kind in category.kinds:  # no record of the kind in the account
                marker = f"mdc[{kind} "  # how load.file_marker names a kind's files
                for key, record in records.items():
                    name_of = str((record or {}).get("name") or "")
                    if key.startswith(f"{kind}:") or name_of.startswith(marker):
                        proof.records_of_withheld_kinds += 1
                        proof.where.append(key)
            columns: dict[str, list[str]] = {}
            for file, snake in category.columns:
                columns.setdefault(file, []).append(role(file, snake))
            for kind in category.kinds:
                if kind in FILES:
                    columns.setdefault(kind, []).extend(
                        c.name for c in FILES[kind].columns if c.kind.name == "LONG_TEXT"
                    )
            for file, roles in columns.items():
                if not export.has(file):
                    continue
                parent = group_key(file)
                holder = "patients" if parent and parent == parent_ref(file) else "treatment_plans"
                mapped = {
                    r: _mapped_fields(wb, setup, file, r) if wb and setup else None for r in roles
                }
                for row in export.read(file):
                    if not isinstance(row, Row):
                        continue
                    owner = str(row.values.get(parent) or "").strip() if parent else ""
                    places = [f"{file}:{row.source_id}", f"{holder}:{owner}"]
                    if file == "patients":
                        places = places[:1]
                    for r in roles:
                        probe = _probe(str(row.raw.get(r) or ""))
                        if probe.empty:
                            continue
                        proof.values_checked += 1
                        hit = next((p for p in places if _found(probe, flat(p), mapped[r])), None)
                        if hit is not None:
                            proof.found += 1
                            if len(proof.where) < 20:
                                proof.where.append(f"{file}.{r} of {file}:{row.source_id} in {hit}")
    return proofs
