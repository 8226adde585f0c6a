"""Propose the field map: known columns by the spec's rules, unseen columns by name and values.

Every column of the export ends in the workbook, mapped or ``migrate: false``, with a
confidence and a one-line reason. Choices under ``REVIEW_BELOW`` are marked for review.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

from flitstack.errors import BadInput
from flitstack.mapping.known import (
    EXTRA_SYNONYMS,
    FILE_TARGET,
    OBJECTS,
    PIPELINES,
    RULES,
    VALUE_MAPS,
    YES_NO,
    Rule,
)
from flitstack.mapping.roles import Bindings, header_key
from flitstack.mapping.workbook import REVIEW_BELOW, ColumnMap, CustomField, Workbook
from flitstack.settings import Settings
from flitstack.source.profile import ColumnProfile
from flitstack.source.schema import FILES, Kind

#: How a known column's values look to the audit's type classifier.
KIND_TYPES: dict[Kind, set[str]] = {
    Kind.EMAIL: {"email"},
    Kind.PHONE: {"phone", "int"},
    Kind.DATE: {"date"},
    Kind.DATETIME: {"datetime", "date"},
    Kind.MONEY: {"money", "decimal", "int"},
    Kind.INT: {"int"},
    Kind.YES_NO: {"boolean"},
    Kind.CDT: {"cdt"},
    Kind.CDT_LIST: {"cdt", "cdt_list"},
    Kind.LONG_TEXT: {"long_text", "text"},
}

#: Word-level abbreviations expanded before names are compared.
_ABBREVIATIONS = {
    "pt": "patient",
    "pat": "patient",
    "dob": "date of birth",
    "bday": "birthday",
    "cell": "mobile",
    "mob": "mobile",
    "tel": "phone",
    "ph": "phone",
    "no": "number",
    "num": "number",
    "#": "number",
    "addr": "address",
    "fname": "first name",
    "lname": "last name",
    "dt": "date",
    "e": "e",
    "mi": "middle initial",
    "ins": "insurance",
    "prov": "provider",
    "appt": "appointment",
    "amt": "amount",
    "tx": "treatment",
    "doc": "document",
    "docs": "documents",
    "hyg": "hygienist",
    "rdh": "hygienist",
    "op": "operatory",
    "trans": "transaction",
    "abbr": "abbreviation",
    "tz": "time zone",
    "dr": "doctor",
    "ref": "referral",
}
#: Spellings of "the identifier of": ``Patient #``, ``Patient No``, ``Patient Number``.
_ID_WORDS = {"number": "id", "id": "id"}
#: Words that name the file's own subject and add nothing to a column name ("Plan Title").
#: Files whose records take no custom fields but carry a note an unknown column can go into.
NOTE_LINE_FILES = {"appointments": "activity"}
_FILLER = {"the", "of", "patient", "plan", "treatment", "appointment", "case", "lab"}


@functools.lru_cache(maxsize=65_536)
def normalise_name(name: str, drop_filler: bool = True) -> str:
    """``"Pt_First"`` → ``"first"``: split camel case and separators, expand abbreviations."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    text = text.replace("#", " # ").replace("e-mail", "email").replace("E-mail", "email")
    words = [w for w in re.split(r"[^A-Za-z0-9#]+", text.lower()) if w]
    expanded = " ".join(_ABBREVIATIONS.get(w, w) for w in words).split()
    if not drop_filler:
        return " ".join(expanded)
    kept = [w for w in expanded if w not in _FILLER] or expanded
    return " ".join(kept)


@functools.lru_cache(maxsize=65_536)
def _id_spelling(normalised: str) -> str:
    """``"patient number"`` → ``"patient id"``, so ``Patient #`` meets ``PatientID``."""
    words = normalised.split()
    if words and words[-1] in _ID_WORDS:
        words[-1] = "id"
    return " ".join(words)


def _auto_synonyms(canonical: str) -> tuple[str, ...]:
    """``PatientID`` is also called ``Patient``; ``TreatmentPlanID`` also ``Plan``."""
    if canonical.endswith("ID") and len(canonical) > 2:
        stem = canonical[:-2]
        return (stem, re.sub(r"([a-z])([A-Z])", r"\1 \2", stem).split()[-1])
    return ()


def _name_score(column: str, canonical: str, synonyms: Iterable[str]) -> float:
    """0..1 similarity of a header to a known column's name and synonyms."""
    best = 0.0
    auto = set(_auto_synonyms(canonical))
    for drop in (True, False):
        plain = normalise_name(column, drop)
        for probe in dict.fromkeys((plain, _id_spelling(plain))):
            if drop and probe in {"id", ""}:
                continue  # "Pt #" without its subject says nothing: compare whole names only
            for candidate in (canonical, *synonyms, *auto):
                target = _id_spelling(normalise_name(candidate, drop))
                if drop and target in {"id", ""}:
                    continue
                if probe == target:
                    # a bare stem ("Carrier" for CarrierID) is weaker than a real name
                    exact = 0.85 if candidate in auto and candidate not in synonyms else 1.0
                    best = max(best, exact)
                    continue
                score = max(fuzz.ratio(probe, target), fuzz.token_sort_ratio(probe, target))
                best = max(best, min(score / 100, 0.97))
    return best


def _dominant_type(profile: ColumnProfile) -> tuple[str, float]:
    if not profile.type_votes:
        return ("empty", 0.0)
    kind, share = max(profile.type_votes.items(), key=lambda kv: kv[1])
    return kind, share


#: Value types an identifier (own or referenced) is never made of.
_NOT_IDS = {"date", "datetime", "money", "decimal", "email", "phone", "long_text", "boolean",
            "cdt", "cdt_list", "url"}  # fmt: skip
#: Kinds whose values are words, not bare numbers.
_WORDY = {Kind.NAME, Kind.ENUM, Kind.LONG_TEXT, Kind.EMAIL}


def _type_fit(profile: ColumnProfile, kind: Kind) -> float:
    """+ when the values look like the known column's kind, − when they clearly do not."""
    if profile.non_null == 0:
        return 0.0
    kind_of, share = _dominant_type(profile)
    if kind in (Kind.ID, Kind.REF):
        if kind_of in _NOT_IDS and share >= 0.5:
            return -0.5
        if kind is Kind.ID:
            unique = profile.cardinality >= profile.non_null * (
                0.95 if profile.cardinality_capped else 1.0
            )
            return 0.1 if unique else -0.4
        return 0.0
    if kind in _WORDY and kind_of == "int" and share >= 0.9:
        return -0.4  # numbers where words belong: an ID column, not a name or a status
    expected = KIND_TYPES.get(kind)
    if expected is None or profile.non_null == 0:
        return 0.0
    share = sum(profile.type_votes.get(t, 0.0) for t in expected)
    if share >= 0.8:
        return 0.15
    if share < 0.2:
        return -0.3
    return 0.0


@dataclass
class _Candidate:
    column: str  # the known column it would stand for
    score: float
    why: str


def _column_map(
    file: str, column: str, role: str, rule: Rule, confidence: float, reason: str
) -> ColumnMap:
    return ColumnMap(
        file=file,
        column=column,
        role=role,
        migrate=rule.target is not None,
        target=rule.target,
        field=rule.field,
        custom=rule.custom.model_copy() if rule.custom else None,
        transform=rule.transform,
        options=dict(rule.options),
        confidence=round(confidence, 2),
        review=confidence < REVIEW_BELOW,
        reason=reason,
    )


def _candidates(file: str, profile: ColumnProfile) -> list[_Candidate]:
    """Every known column of the file this header could stand for, best first."""
    out: list[_Candidate] = []
    for col in FILES[file].columns:
        rule = RULES.get((file, col.name))
        synonyms = (*(rule.synonyms if rule else ()), *EXTRA_SYNONYMS.get((file, col.name), ()))
        name = _name_score(profile.column, col.name, synonyms)
        fit = _type_fit(profile, col.kind)
        score = min(1.0, name + fit) if name >= 0.6 else name + fit
        why = f"name matches {col.name} ({name:.0%})"
        if fit > 0:
            why += f"; values look like {col.kind.value}"
        elif fit < 0:
            why += f"; but values do not look like {col.kind.value}"
        out.append(_Candidate(col.name, score, why))
    return sorted(out, key=lambda c: -c.score)


def _by_values(file: str, profile: ColumnProfile, taken: set[str]) -> _Candidate | None:
    """Place a column by what its values look like, when exactly one free known column fits."""
    kind, share = _dominant_type(profile)
    if share < 0.9 or kind in {"text", "long_text", "empty", "int", "decimal"}:
        return None
    fits = [
        c.name
        for c in FILES[file].columns
        if c.name not in taken and kind in KIND_TYPES.get(c.kind, set())
    ]
    if len(fits) != 1:
        return None
    why = f"values are {share:.0%} {kind}, and only {fits[0]} holds those"
    return _Candidate(fits[0], 0.7, why)


def _custom_for_unknown(file: str, profile: ColumnProfile) -> ColumnMap:
    """An extra column nobody told us about: a custom field of the closest Pipedrive type."""
    target = FILE_TARGET.get(file) if file in FILES else None
    if target is None and file in NOTE_LINE_FILES and profile.non_null:
        return ColumnMap(
            file=file,
            column=profile.column,
            migrate=True,
            target=NOTE_LINE_FILES[file],
            field="note_line",
            transform="text",
            options={"label": profile.column.strip()},
            confidence=0.6,
            review=True,
            reason=(
                f"unknown column; a {NOTE_LINE_FILES[file]} takes no custom fields: kept as a "
                f"line '{profile.column.strip()}: …' of its note"
            ),
        )
    if target is None:
        where = (
            "this file has no record of its own in Pipedrive"
            if file in FILES
            else ("the file is not part of the MDC format")
        )
        return ColumnMap(
            file=file,
            column=profile.column,
            migrate=False,
            transform="none",
            confidence=0.5,
            review=True,
            reason=f"unknown column and {where}: not migrated; decide by hand",
        )
    kind, share = _dominant_type(profile)
    name = re.sub(r"[^a-z0-9]+", "_", normalise_name(profile.column)).strip("_") + "__c"
    field_type, transform, options, why = "varchar", "text", [], "free text"
    if profile.non_null == 0:
        return ColumnMap(
            file=file,
            column=profile.column,
            migrate=False,
            transform="none",
            confidence=0.9,
            review=False,
            reason="unknown column that is empty in this export: nothing to migrate",
        )
    if share >= 0.9 and kind == "boolean":
        field_type, transform, options, why = "enum", "bool_yes_no", YES_NO, "yes/no values"
    elif share >= 0.9 and kind == "date":
        field_type, transform, why = "date", "date", "dates"
    elif share >= 0.9 and kind == "email":
        field_type, transform, why = "varchar", "email", "e-mail addresses"
    elif share >= 0.9 and kind == "phone":
        field_type, transform, why = "phone", "phone_e164", "phone numbers"
    elif share >= 0.9 and kind in {"int", "decimal"}:
        field_type, transform, why = "double", "number", "numbers"
    elif share >= 0.9 and kind == "money":
        field_type, transform, why = "monetary", "money", "money amounts"
    elif (
        not profile.cardinality_capped
        and 0 < profile.cardinality <= 12
        and profile.non_null >= 3 * profile.cardinality
    ):
        options = sorted(v for v, _ in profile.top_values) if not profile.personal else []
        if options:
            field_type, transform = "enum", "picklist"
            why = f"a small set of {profile.cardinality} values"
    elif kind == "long_text" or profile.max_length > 255:
        field_type, transform, why = "text", "text", "long text"
    return ColumnMap(
        file=file,
        column=profile.column,
        migrate=True,
        target=target,
        custom=CustomField(name=name, field_type=field_type, options=options),
        transform=transform,
        confidence=0.6,
        review=True,
        reason=f"unknown column; values are {why}: new {target} custom field ({field_type})",
    )


def propose_file(file: str, profiles: list[ColumnProfile]) -> list[ColumnMap]:
    """Map every column of one file: exact known names first, then fuzzy names, then values."""
    maps: dict[str, ColumnMap] = {}
    taken: set[str] = set()
    if file not in FILES:
        return [_custom_for_unknown(file, p) for p in profiles]
    # a format column's own name, whatever its case and spacing ("Item Id" is ItemID)
    own = {header_key(c.name): c.name for c in FILES[file].columns}
    for p in profiles:
        known = own.get(header_key(p.column), "")
        rule = RULES.get((file, known))
        if rule is not None and known not in taken:
            maps[p.column] = _column_map(file, p.column, known, rule, 1.0, rule.reason)
            taken.add(known)
    pending = [p for p in profiles if p.column not in maps]
    # One assignment for the whole file: the strongest (header, known column) pair first, so
    # the clearest renamed column claims its known column and a weaker one cannot take it.
    ranked = {p.column: _candidates(file, p) for p in pending}
    pairs = sorted(
        ((c.score, i, p, c) for i, p in enumerate(pending) for c in ranked[p.column]),
        key=lambda t: (-t[0], t[1]),
    )
    for score, _, p, cand in pairs:
        if score < 0.6 or p.column in maps or cand.column in taken:
            continue
        rule = RULES[(file, cand.column)]
        rivals = [r for r in ranked[p.column] if r.column != cand.column and r.column not in taken]
        confidence = min(score, 0.98)
        reason = f"renamed {cand.column}? {cand.why} → {rule.reason}"
        review_why = ""
        if rivals and rivals[0].score >= score - 0.08:
            review_why = f"could also be {rivals[0].column} ({rivals[0].score:.0%})"
        elif confidence < 0.9:
            review_why = f"renamed column placed at {confidence:.0%} confidence"
        maps[p.column] = _column_map(file, p.column, cand.column, rule, confidence, reason)
        if review_why:
            maps[p.column].review = True
            maps[p.column].reason = f"REVIEW: {review_why}. {reason}"
        taken.add(cand.column)
    for p in profiles:
        if p.column in maps:
            continue
        by_values = _by_values(file, p, taken)
        if by_values is not None:
            rule = RULES[(file, by_values.column)]
            why = f"REVIEW: placed by its values only. {by_values.why} → {rule.reason}"
            maps[p.column] = _column_map(
                file, p.column, by_values.column, rule, by_values.score, why
            )
            taken.add(by_values.column)
        else:
            maps[p.column] = _custom_for_unknown(file, p)
    return [maps[p.column] for p in profiles]


def propose_from_profiles(
    profiles: Iterable[ColumnProfile],
    settings: Settings | None = None,
    custom_properties: list[CustomField] | None = None,
    export: str = "",
    proposed: dict[str, list[ColumnMap]] | None = None,
) -> Workbook:
    """The whole proposal from the audit's column profiles (no I/O).

    ``proposed`` holds files already proposed from these same profiles (the audit's
    ``report.proposal``): they are reused, not proposed again.
    """
    settings = settings or Settings()
    by_file: dict[str, list[ColumnProfile]] = {}
    for p in profiles:
        by_file.setdefault(p.file, []).append(p)
    columns: list[ColumnMap] = []
    for file, file_profiles in by_file.items():
        done = (proposed or {}).get(file)
        if done is not None:
            columns.extend(c.model_copy(deep=True) for c in done)
        else:
            columns.extend(propose_file(file, sorted(file_profiles, key=lambda p: p.position)))
    _keep_new_fields_apart(columns, custom_properties or [])
    # a value map only where its column is in the export (an export without appointments, or
    # whose plans have no status, gets none: the engine then uses the first stage or type)
    present = {(c.file, c.role or c.column) for c in columns}
    return Workbook(
        export=export,
        settings=settings.model_dump(mode="json", exclude={"base_url"}),
        objects=[o.model_copy() for o in OBJECTS],
        pipelines=[p.model_copy() for p in PIPELINES],
        value_maps=[v.model_copy() for v in VALUE_MAPS if (v.file, v.column) in present],
        columns=columns,
        custom_properties=custom_properties or [],
    )


def _keep_new_fields_apart(columns: list[ColumnMap], properties: list[CustomField]) -> None:
    """A field made for an unknown column never shares a name with another field of its object
    (a practice property "Chair Preference" and an extra column "Chair Preference" stay two)."""
    used: set[tuple[str | None, str]] = {("person", p.name) for p in properties}
    used |= {(c.target, c.custom.name) for c in columns if c.custom and c.role is not None}
    for c in columns:
        if c.custom is None or c.role is not None or not c.migrate:
            continue
        base, n = c.custom.name.removesuffix("__c"), 1
        while (c.target, c.custom.name) in used:
            n += 1
            c.custom.name = f"{base}_{n}__c"
        if n > 1:
            c.reason += f" (named {c.custom.name}: {base}__c already holds other data)"
        used.add((c.target, c.custom.name))


_PROPERTY_TYPES = {
    "text": "varchar",
    "number": "double",
    "date": "date",
    "boolean": "enum",
    "picklist": "enum",
}


def property_fields(export: object) -> list[CustomField]:
    """Person custom fields for the practice's own properties (spec: closest Pipedrive type)."""
    from flitstack.source.reader import Export, Row
    from flitstack.source.schema import role

    file = "custom_property_definitions"
    assert isinstance(export, Export)
    if not export.has(file):
        return []
    name_role, type_role = role(file, "property_name"), role(file, "property_type")
    options_role = role(file, "options")
    fields: list[CustomField] = []
    seen: set[str] = set()
    for row in export.read(file):
        if not isinstance(row, Row):
            continue
        name = str(row.values.get(name_role) or "").strip()
        if not name or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        ptype = str(row.values.get(type_role) or "text")
        field_type = _PROPERTY_TYPES.get(ptype, "varchar")
        options: list[str] = []
        if ptype == "picklist":
            raw = str(row.raw.get(options_role) or "")
            options = [o.strip() for o in re.split(r"[;|,]", raw) if o.strip()]
        elif ptype == "boolean":
            options = list(YES_NO)
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") + "__c"
        fields.append(CustomField(name=key, field_type=field_type, options=options, source=name))
    return fields


def propose_map(export_path: Path, settings: Settings | None = None) -> Workbook:
    """Audit an export and propose its map."""
    from flitstack.mapping.practice import practice_settings
    from flitstack.source.audit import audit_export
    from flitstack.source.reader import open_export

    with open_export(export_path) as export:
        # what the export declares fills what the project leaves unset; a conflict is refused
        settings = practice_settings(
            export.manifest, settings or Settings(), where=f"{export_path}/export.json",
            require_timezone=False,
        )  # fmt: skip
        report = audit_export(export, settings)
        export.bindings = report.bindings  # the property definitions, read by role
        props = property_fields(export)
    wb = propose_from_profiles(
        report.profiles, settings, props, export=str(export_path), proposed=report.proposal
    )
    # as the export's own dates show (and weighed so below)
    wb.date_order = "day-first" if report.date_order == "day-first" else "month-first"
    from flitstack.mapping.evidence import weigh
    from flitstack.mapping.protection import propose_protection

    wb = weigh(wb, export_path, settings)
    wb.protection = propose_protection(settings.profile())  # proposals: a person decides
    return wb


def propose_bindings(export_path: Path, files: Iterable[str]) -> Bindings:
    """The bindings the proposal gives ``files``, profiling only those files.

    A file's proposal depends on its own columns alone, so this is what :func:`propose_map`
    would bind them to, for a step that reads a few files of a large export.
    """
    from flitstack.source.audit import profile_file
    from flitstack.source.reader import open_export

    out = Bindings()
    with open_export(export_path) as export:
        for file in files:
            if export.has(file):
                maps = propose_file(file, profile_file(export, file))
                out.files.update(Bindings.from_columns(maps).files)
    return out


class RoleError(BadInput, ValueError):
    """A role that the file does not have (the message lists the ones it has)."""


def set_role(wb: Workbook, file: str, column: str, role: str | None) -> ColumnMap:
    """Say which MDC column ``file.column`` stands for: the entry is rewritten from that
    column's rule (target, field, transform, options), as if the header had been spelled so.

    ``role=None`` makes it a column the format does not know (not migrated until decided).
    A column that held the role before loses it, so no role is played twice.
    """
    entry = wb.column_map(file, column)
    if entry is None:
        known = ", ".join(c.column for c in wb.for_file(file)) or "none"
        raise RoleError(f"{file}.{column}: no such column in the workbook (columns: {known})")
    index = wb.columns.index(entry)
    if role is None:
        wb.columns[index] = ColumnMap(
            file=file, column=column, role="", migrate=False, transform="none", review=False,
            reason="not an MDC column (set by hand): not migrated",
        )  # fmt: skip
        return wb.columns[index]
    rule = RULES.get((file, role))
    if rule is None:
        roles = ", ".join(c.name for c in FILES[file].columns) if file in FILES else "none"
        raise RoleError(f"{file}.{column}: {role!r} is not a column of {file} (roles: {roles})")
    for i, other in enumerate(wb.columns):
        if other.file == file and other.key == role and other.column != column:
            wb.columns[i] = ColumnMap(
                file=file, column=other.column, migrate=False, transform="none", review=True,
                reason=f"was placed as {role}, which {column!r} now plays: decide by hand",
            )  # fmt: skip
    wb.columns[index] = _column_map(
        file, column, role, rule, 1.0, f"set by hand as {role} → {rule.reason}"
    )
    return wb.columns[index]
