"""Propose the field map: known columns by the spec's rules, unseen columns by name and values.

Every column of the export ends in the workbook, mapped or ``migrate: false``, with a
confidence and a one-line reason. Choices under ``REVIEW_BELOW`` are marked for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

from flitstack.mapping.known import (
    FILE_TARGET,
    OBJECTS,
    PIPELINES,
    RULES,
    VALUE_MAPS,
    YES_NO,
    Rule,
)
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
}
#: Words that name the file's own subject and add nothing to a column name ("Plan Title").
_FILLER = {"the", "of", "patient", "plan", "treatment", "appointment", "case", "lab"}


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


def _auto_synonyms(canonical: str) -> tuple[str, ...]:
    """``PatientID`` is also called ``Patient``; ``TreatmentPlanID`` also ``Plan``."""
    if canonical.endswith("ID") and len(canonical) > 2:
        stem = canonical[:-2]
        return (stem, re.sub(r"([a-z])([A-Z])", r"\1 \2", stem).split()[-1])
    return ()


def _name_score(column: str, canonical: str, synonyms: Iterable[str]) -> float:
    """0..1 similarity of a header to a known column's name and synonyms."""
    best = 0.0
    for drop in (True, False):
        probe = normalise_name(column, drop)
        for candidate in (canonical, *synonyms, *_auto_synonyms(canonical)):
            target = normalise_name(candidate, drop)
            if probe == target:
                return 1.0
            score = max(fuzz.ratio(probe, target), fuzz.token_sort_ratio(probe, target)) / 100
            best = max(best, score)
    return best


def _dominant_type(profile: ColumnProfile) -> tuple[str, float]:
    if not profile.type_votes:
        return ("empty", 0.0)
    kind, share = max(profile.type_votes.items(), key=lambda kv: kv[1])
    return kind, share


def _type_fit(profile: ColumnProfile, kind: Kind) -> float:
    """+ when the values look like the known column's kind, − when they clearly do not."""
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


def _column_map(file: str, column: str, rule: Rule, confidence: float, reason: str) -> ColumnMap:
    return ColumnMap(
        file=file,
        column=column,
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


def _best_known(file: str, profile: ColumnProfile, taken: set[str]) -> _Candidate | None:
    spec = FILES[file]
    best: _Candidate | None = None
    for col in spec.columns:
        if col.name in taken:
            continue
        rule = RULES.get((file, col.name))
        synonyms = rule.synonyms if rule else ()
        name = _name_score(profile.column, col.name, synonyms)
        fit = _type_fit(profile, col.kind)
        score = min(1.0, name + fit) if name >= 0.6 else name + fit
        why = f"name matches {col.name} ({name:.0%})"
        if fit > 0:
            why += f"; values look like {col.kind.value}"
        elif fit < 0:
            why += f"; but values do not look like {col.kind.value}"
        if best is None or score > best.score:
            best = _Candidate(col.name, score, why)
    return best


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
    for p in profiles:
        rule = RULES.get((file, p.column))
        if rule is not None:
            maps[p.column] = _column_map(file, p.column, rule, 1.0, rule.reason)
            taken.add(p.column)
    pending = [p for p in profiles if p.column not in maps]
    # Greedy by best score so the clearest renamed column claims its known column first.
    scored = []
    for p in pending:
        cand = _best_known(file, p, taken)
        if cand is not None:
            scored.append((cand.score, p, cand))
    for _, p, _ in sorted(scored, key=lambda t: -t[0]):
        cand = _best_known(file, p, taken)
        if cand is None or cand.score < 0.6:
            continue
        rule = RULES[(file, cand.column)]
        reason = f"renamed {cand.column}? {cand.why} → {rule.reason}"
        maps[p.column] = _column_map(file, p.column, rule, min(cand.score, 0.98), reason)
        maps[p.column].options["known_as"] = cand.column
        taken.add(cand.column)
    for p in profiles:
        if p.column in maps:
            continue
        cand = _by_values(file, p, taken)
        if cand is not None:
            rule = RULES[(file, cand.column)]
            maps[p.column] = _column_map(
                file, p.column, rule, cand.score, f"{cand.why} → {rule.reason}"
            )
            maps[p.column].options["known_as"] = cand.column
            taken.add(cand.column)
        else:
            maps[p.column] = _custom_for_unknown(file, p)
    return [maps[p.column] for p in profiles]


def propose_from_profiles(
    profiles: Iterable[ColumnProfile],
    settings: Settings | None = None,
    custom_properties: list[CustomField] | None = None,
    export: str = "",
) -> Workbook:
    """The whole proposal from the audit's column profiles (no I/O)."""
    settings = settings or Settings()
    by_file: dict[str, list[ColumnProfile]] = {}
    for p in profiles:
        by_file.setdefault(p.file, []).append(p)
    columns: list[ColumnMap] = []
    for file, file_profiles in by_file.items():
        columns.extend(propose_file(file, sorted(file_profiles, key=lambda p: p.position)))
    return Workbook(
        export=export,
        settings=settings.model_dump(mode="json", exclude={"base_url"}),
        objects=[o.model_copy() for o in OBJECTS],
        pipelines=[p.model_copy() for p in PIPELINES],
        value_maps=[v.model_copy() for v in VALUE_MAPS],
        columns=columns,
        custom_properties=custom_properties or [],
    )


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

    assert isinstance(export, Export)
    if not export.has("custom_property_definitions"):
        return []
    fields: list[CustomField] = []
    seen: set[str] = set()
    for row in export.read("custom_property_definitions"):
        if not isinstance(row, Row):
            continue
        name = str(row.values.get("PropertyName") or "").strip()
        if not name or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        ptype = str(row.values.get("PropertyType") or "text")
        field_type = _PROPERTY_TYPES.get(ptype, "varchar")
        options: list[str] = []
        if ptype == "picklist":
            raw = str(row.raw.get("Options") or "")
            options = [o.strip() for o in re.split(r"[;|,]", raw) if o.strip()]
        elif ptype == "boolean":
            options = list(YES_NO)
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") + "__c"
        fields.append(CustomField(name=key, field_type=field_type, options=options, source=name))
    return fields


def propose_map(export_path: Path, settings: Settings | None = None) -> Workbook:
    """Audit an export and propose its map."""
    from flitstack.source.audit import audit_export
    from flitstack.source.reader import open_export

    settings = settings or Settings()
    with open_export(export_path) as export:
        report = audit_export(export, settings)
        props = property_fields(export)
    return propose_from_profiles(report.profiles, settings, props, export=str(export_path))
