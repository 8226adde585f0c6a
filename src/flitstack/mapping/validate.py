"""Check a mapping workbook's meaning before it is confirmed: every name it uses must exist.

A person edits the workbook by hand, so a typo (``transform: dat``, ``target: persn``) would
otherwise only show up mid-migration as thousands of flagged values. ``validate_workbook``
collects every problem in one pass, one line each, naming the column (or value map), what is
wrong and the valid choices, and raises ``WorkbookValidationError`` carrying all of them.

The valid names come from the code that uses them: the transform registry plus the transforms
the engine resolves itself, the targets of ``workbook.TARGETS``, and the standard fields
(engine roles) and option keys the known rules in ``mapping.known`` use, plus the option keys
the transforms read from ``ctx.options``. Everything is precomputed as sets, so a check is
linear in the number of columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from flitstack.mapping.known import RULES
from flitstack.mapping.workbook import (
    PIPEDRIVE_FIELD_TYPES,
    TARGETS,
    ColumnMap,
    Workbook,
    WorkbookError,
    load_raw,
    load_workbook,
)
from flitstack.transform.registry import OPTION_KEYS, TRANSFORMS

#: Transforms the engine resolves itself, since they need other records or the value maps
#: (engine/records.py, engine/migration.py); ``none`` is in the registry.
ENGINE_TRANSFORMS = frozenset({"ref", "provider_name", "location_name", "value_map", "property"})
#: Option keys the transforms read from ``ctx.options`` (grep ``ctx.options`` in transform/).
TRANSFORM_OPTION_KEYS = OPTION_KEYS | frozenset(
    {"options", "region", "currency", "notation", "timezone", "format"}
)
#: Option keys the proposer writes itself (``known_as``: the known column a renamed one stands for).
PROPOSER_OPTION_KEYS = frozenset({"known_as"})
#: What a value map can turn values into, and the values some of those targets accept.
VALUE_MAP_TARGETS = ("stage", "activity_type", "deal_status", "done")
VALUE_MAP_VALUES: dict[str, tuple[str, ...]] = {
    "deal_status": ("open", "won", "lost"),
    "done": ("open", "done"),
}

VALID_TRANSFORMS = frozenset(TRANSFORMS) | ENGINE_TRANSFORMS | {r.transform for r in RULES.values()}
VALID_OPTION_KEYS = (
    frozenset(k for r in RULES.values() for k in r.options)
    | TRANSFORM_OPTION_KEYS
    | PROPOSER_OPTION_KEYS
)


def _fields_by_target() -> dict[str, frozenset[str]]:
    fields: dict[str, set[str]] = {t: set() for t in TARGETS}
    for rule in RULES.values():
        if rule.target is not None and rule.field is not None:
            fields.setdefault(rule.target, set()).add(rule.field)
    return {t: frozenset(f) for t, f in fields.items()}


#: The standard fields (engine roles) each target takes, as the known rules use them.
VALID_FIELDS: dict[str, frozenset[str]] = _fields_by_target()

_MAX_LISTED = 40


def _listing(choices: Iterable[str], ordered: bool = False) -> str:
    items = list(choices) if ordered else sorted(choices)
    if not items:
        return "none"
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", … ({len(items)} in all)" if len(items) > _MAX_LISTED else "")


_TRANSFORM_LIST = _listing(VALID_TRANSFORMS)
_OPTION_LIST = _listing(VALID_OPTION_KEYS)
_TARGET_LIST = _listing(TARGETS, ordered=True)
_FIELD_TYPE_LIST = _listing(PIPEDRIVE_FIELD_TYPES, ordered=True)
_FIELD_LISTS = {t: _listing(f) for t, f in VALID_FIELDS.items()}
_VALUE_MAP_TARGET_LIST = _listing(VALUE_MAP_TARGETS, ordered=True)


class WorkbookValidationError(WorkbookError):
    """The workbook names things that do not exist; ``problems`` has one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{source}: {count} in the mapping workbook:\n" + "\n".join(problems))


def _column_problems(c: ColumnMap, where: str, value_maps: set[str]) -> list[str]:
    out: list[str] = []
    if c.transform not in VALID_TRANSFORMS:
        out.append(f"{where}: unknown transform {c.transform!r} (valid: {_TRANSFORM_LIST})")
    target = c.target
    if target not in VALID_FIELDS:
        out.append(f"{where}: unknown target {target!r} (valid: {_TARGET_LIST})")
    elif c.field is not None and c.field not in VALID_FIELDS[target]:
        out.append(f"{where}: unknown {target} field {c.field!r} (valid: {_FIELD_LISTS[target]})")
    elif c.field is None and c.custom is None:
        out.append(
            f"{where}: neither a standard {target} field nor a custom field is set "
            f"(valid fields: {_FIELD_LISTS[target]}; or set custom)"
        )
    if c.custom is not None and c.custom.field_type not in PIPEDRIVE_FIELD_TYPES:
        out.append(
            f"{where}: Pipedrive has no field type {c.custom.field_type!r} "
            f"(valid: {_FIELD_TYPE_LIST})"
        )
    for key in c.options:
        if key not in VALID_OPTION_KEYS:
            out.append(f"{where}: unknown option {key!r} (valid: {_OPTION_LIST})")
    if c.transform == "value_map":
        name = c.options.get("value_map")
        if name not in value_maps:
            out.append(
                f"{where}: value map {name!r} does not exist (valid: {_listing(value_maps)})"
            )
    return out


def validate_workbook(wb: Workbook, source: str = "workbook") -> None:
    """Raise ``WorkbookValidationError`` listing every unknown name the workbook uses.

    ``source`` prefixes each line (the workbook's file name). Columns with ``migrate: false``
    are only checked for duplicates: the engine ignores everything else about them.
    """
    problems: list[str] = []
    columns: dict[str, dict[str, None]] = {}  # file → names a value map may use, in order
    seen: set[tuple[str, str]] = set()
    value_maps = {v.name for v in wb.value_maps}
    for c in wb.columns:
        where = f"{source}: {c.file}.{c.column}"
        pair = (c.file, c.column)
        if pair in seen:
            problems.append(f"{where}: listed more than once in columns (keep one entry)")
        seen.add(pair)
        names = columns.setdefault(c.file, {})
        names[c.column] = None
        # a renamed column also answers to the MDC column it stands for (its role)
        role = getattr(c, "role", None) or c.options.get("known_as")
        if role:
            names[str(role)] = None
        if c.migrate:
            problems.extend(_column_problems(c, where, value_maps))

    stages = {p.name: p.stages for p in wb.pipelines}
    stage_sets = {name: set(s) for name, s in stages.items()}
    for vm in wb.value_maps:
        where = f"{source}: value map {vm.name}"
        if vm.column not in columns.get(vm.file, {}):
            known = columns.get(vm.file)
            valid = (
                f"columns of {vm.file}: {_listing(known, ordered=True)}"
                if known
                else f"files: {_listing(columns)}"
            )
            problems.append(
                f"{where}: column {vm.file}.{vm.column} is not in the workbook's columns "
                f"(valid {valid})"
            )
        if vm.target not in VALUE_MAP_TARGETS:
            problems.append(
                f"{where}: unknown value-map target {vm.target!r} (valid: {_VALUE_MAP_TARGET_LIST})"
            )
        elif vm.target == "stage":
            if vm.pipeline not in stage_sets:
                problems.append(
                    f"{where}: pipeline {vm.pipeline!r} does not exist "
                    f"(valid: {_listing(stages, ordered=True)})"
                )
                continue
            valid_stages = stage_sets[vm.pipeline]
            stage_list = _listing(stages[vm.pipeline], ordered=True)
            for value, stage in vm.values.items():
                if stage not in valid_stages:
                    problems.append(
                        f"{where}: {value!r} → {stage!r} is not a stage of pipeline "
                        f"{vm.pipeline!r} (valid: {stage_list})"
                    )
        elif vm.target in VALUE_MAP_VALUES:
            allowed = VALUE_MAP_VALUES[vm.target]
            for value, mapped in vm.values.items():
                if mapped not in allowed:
                    problems.append(
                        f"{where}: {value!r} → {mapped!r} is not a {vm.target} value "
                        f"(valid: {_listing(allowed, ordered=True)})"
                    )
    if problems:
        raise WorkbookValidationError(source, problems)


def load_valid_workbook(path: Path) -> Workbook:
    """``load_workbook`` plus ``validate_workbook``, reporting every problem at once.

    The loader stops at the first unknown target or field type; when the document is otherwise
    a well-formed workbook, the full validation runs instead so all problems are listed.
    """
    try:
        return _validated(load_workbook(path), path)
    except WorkbookValidationError:
        raise
    except WorkbookError:
        lenient = _lenient(path)
        if lenient is not None:
            _validated(lenient, path)
        raise  # not a well-formed workbook, or nothing else wrong: the loader's message stands


def _validated(wb: Workbook, path: Path) -> Workbook:
    validate_workbook(wb, path.name)
    return wb


def _lenient(path: Path) -> Workbook | None:
    """The workbook without the loader's own target and field-type checks, if it parses."""
    try:
        return Workbook.model_validate(json.loads(json.dumps(load_raw(path))))
    except (WorkbookError, ValidationError):
        return None
