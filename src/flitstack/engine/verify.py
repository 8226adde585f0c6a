"""Read migrated records back from Pipedrive and compare them field by field with what was sent.

The state store keeps, for every record the migration wrote, the payload it sent: the value of
each field after transform. Verification fetches each record over the API and compares the two,
so a field Pipedrive dropped, truncated, re-typed or that someone edited since shows up by name,
with the MDC columns it came from. A clean sample diff is the gate before the full run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flitstack.engine.objects import KINDS as SOURCE_KINDS
from flitstack.engine.records import Setup
from flitstack.engine.state import StateStore
from flitstack.engine.truth import TruthReport
from flitstack.engine.withheld import CategoryProof
from flitstack.errors import Refused
from flitstack.mapping.known import SOURCE_ID_FIELD
from flitstack.mapping.workbook import Workbook
from flitstack.pipedrive.client import PipedriveClient
from flitstack.pipedrive.errors import NotFound
from flitstack.pipedrive.kinds import KINDS as OBJECT_KINDS
from flitstack.reporting import write_csv, write_html, write_json

Progress = Callable[[str, int, int], None]

#: Pipedrive object of each kind the engine writes, and the workbook target it comes from.
TARGET_OF = {k.name: k.target for k in OBJECT_KINDS.values()}
#: Fields the engine derives rather than reads from one column: the source-ID field every
#: record carries, and what each object kind declares (``engine/objects``).
DERIVED: dict[tuple[str, str], str] = {
    ("person", SOURCE_ID_FIELD): "MDC patient ID (for exactly-once lookups)",
    ("organization", SOURCE_ID_FIELD): "MDC ID (for exactly-once lookups)",
    ("deal", SOURCE_ID_FIELD): "MDC ID (for exactly-once lookups)",
    **{field: why for kind in SOURCE_KINDS for field, why in kind.derived.items()},
}
SKIPPED_FILE_FACTS = {"sha", "file_type_mime"}  # not readable back through the files API


@dataclass
class FieldCheck:
    """One field of one record: what the transform produced, what Pipedrive holds."""

    object: str
    key: str
    pd_id: int
    field: str
    source: str
    expected: Any
    actual: Any
    equal: bool


@dataclass
class DiffReport:
    """Every field compared, plus records that are no longer there at all."""

    checks: list[FieldCheck] = field(default_factory=list)
    records: Counter[str] = field(default_factory=Counter)
    missing: list[dict[str, Any]] = field(default_factory=list)
    #: every record read back, by source key (None: gone), for the check against the source
    actual: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: losses measured from the source files (set by Migration.verify)
    truth: TruthReport | None = None
    #: the practice's time zone: times Pipedrive stores (UTC) are shown in it beside
    timezone: str = "UTC"
    #: per category of patient data: sent, or withheld and proven absent from the account
    protection: list[CategoryProof] = field(default_factory=list)

    @property
    def differences(self) -> list[FieldCheck]:
        return [c for c in self.checks if not c.equal]

    @property
    def clean(self) -> bool:
        lossless = self.truth is None or self.truth.clean
        withheld = all(p.clean for p in self.protection)
        return not self.differences and not self.missing and lossless and withheld

    def summary(self) -> dict[str, Any]:
        by_object: dict[str, dict[str, int]] = {}
        for c in self.checks:
            entry = by_object.setdefault(c.object, {"fields": 0, "equal": 0, "differ": 0})
            entry["fields"] += 1
            entry["equal" if c.equal else "differ"] += 1
        return {
            "records": sum(self.records.values()),
            "fields": len(self.checks),
            "differences": len(self.differences),
            "missing_records": len(self.missing),
            "clean": self.clean,
            "losses": self.truth.summary() if self.truth is not None else None,
            "losses_over_limit": len(self.truth.over_limit()) if self.truth else 0,
            "unaccepted_losses": self.truth.blocking() if self.truth else [],
            "by_object": by_object,
            "timezone": self.timezone,
            "protection": [
                {
                    "category": p.category,
                    "label": p.label,
                    "decision": p.decision,
                    "values_checked": p.values_checked,
                    "found_in_account": p.found,
                    "records_of_withheld_kinds": p.records_of_withheld_kinds,
                    "clean": p.clean,
                }
                for p in self.protection
            ],
            "times": practice_times(self)[:TIME_EXAMPLES],
        }


TIME_EXAMPLES = 8  # appointments shown with their practice time in the summaries


def practice_times(report: DiffReport) -> list[dict[str, str]]:
    """Each activity's due date and time as Pipedrive holds them (UTC) and as the practice's
    clock read them, so a person can check the conversion on a few appointments."""
    zone = ZoneInfo(report.timezone)
    parts: dict[tuple[str, int], dict[str, Any]] = {}
    for c in report.checks:
        if c.field in {"due_date", "due_time"}:
            entry = parts.setdefault((c.key, c.pd_id), {"object": c.object, "source": c.source})
            entry[c.field] = c.actual if c.actual not in (None, "") else c.expected
    out = []
    for (key, pd_id), entry in sorted(parts.items()):
        day, clock = entry.get("due_date"), entry.get("due_time")
        if not day or not clock:
            continue
        try:
            stored = datetime.fromisoformat(f"{day}T{str(clock)[:5]}").replace(tzinfo=UTC)
        except ValueError:
            continue
        local = stored.astimezone(zone)
        out.append({
            "object": entry["object"], "key": key, "id": str(pd_id), "source": entry["source"],
            "stored_utc": stored.strftime("%Y-%m-%d %H:%M UTC"),
            "practice_time": f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({report.timezone})",
        })  # fmt: skip
    return out


class SampleNotClean(Refused):
    """The full run was asked for before a clean sample diff."""


def provenance(wb: Workbook) -> dict[tuple[str, str], str]:
    """(target object, Pipedrive field or custom-field name) → the MDC columns behind it."""
    out: dict[tuple[str, str], list[str]] = {}
    for c in wb.columns:
        if not c.migrate or c.target is None:
            continue
        name = c.custom.name if c.custom is not None else c.field
        if not name:
            continue
        for alias in _aliases(c.target, name):
            out.setdefault((c.target, alias), []).append(f"{c.file}.{c.column}")
    merged = {k: ", ".join(dict.fromkeys(v)) for k, v in out.items()}
    for k, v in DERIVED.items():
        merged.setdefault(k, v)
    return merged


def _aliases(target: str, name: str) -> list[str]:
    """A workbook field role may fill more than one payload field."""
    return {
        "due": ["due_date", "due_time"],
        "value": ["value", "currency"],
        "note_line": ["note"],
    }.get(name, [name])


def unaccepted_losses(state: StateStore, run_id: int, wb: Workbook | None) -> list[str]:
    """The losses a check measured that the workbook (as confirmed now) does not accept."""
    accepted = {(a.file, a.column or None) for a in wb.accepted_losses} if wb else set()
    return [
        loss["line"]
        for loss in state.losses(run_id)
        if (loss["file"], loss["column"]) not in accepted
    ]


def require_clean_sample(state: StateStore, wb: Workbook | None = None) -> dict[str, Any]:
    """Raise unless the latest sample migration was verified with no difference and no loss
    over the limit that the workbook does not accept, and nothing was rolled back since."""
    check = state.last_check("sample")
    if check is None:
        raise SampleNotClean(
            "no verified sample yet: run `flitstack migrate EXPORT --sample 200` and check its "
            "diff report before the full run (or pass --skip-sample-gate to take the risk)"
        )
    rolled_back = rollback_since(state, int(check["run_id"]))
    if rolled_back is not None:
        raise SampleNotClean(
            f"the account was rolled back ({rolled_back['started']}) after the last sample "
            f"diff ({check['checked']}): that sample is gone, so its check no longer holds. "
            "Run `flitstack migrate EXPORT --sample 200` again and check its diff before the "
            "full run (or pass --skip-sample-gate). Nothing was written."
        )
    if check["differences"]:
        raise SampleNotClean(
            f"the last sample diff ({check['checked']}) found {check['differences']} fields "
            "that differ between what was sent and what Pipedrive holds: fix the map or the "
            "data, roll back and run the sample again (or pass --skip-sample-gate). Nothing "
            "was written."
        )
    lost = unaccepted_losses(state, int(check["run_id"]), wb)
    if lost:
        raise SampleNotClean(
            f"the last sample ({check['checked']}) loses more than 1% of these source columns "
            f"or files: {'; '.join(lost)}. Fix the map or the data and sample again, or accept "
            "each loss in the workbook (accepted_losses: file, column, reason; or `flitstack "
            "map accept-loss`) and confirm it. Nothing was written."
        )
    return check


def rollback_since(state: StateStore, run_id: int) -> dict[str, Any] | None:
    """The latest rollback run started after run ``run_id`` (run IDs only grow), if any."""
    later = [r for r in state.runs() if r["kind"] == "rollback" and int(r["id"]) > run_id]
    return max(later, key=lambda r: int(r["id"])) if later else None


async def read_back(pd: PipedriveClient, kind: str, pd_id: int) -> dict[str, Any] | None:
    """The record as Pipedrive holds it now, or None when it is gone."""
    try:
        data = await pd.get(kind, pd_id)
    except NotFound:
        return None
    return data if isinstance(data, dict) else None


async def verify_records(
    pd: PipedriveClient,
    state: StateStore,
    setup: Setup,
    wb: Workbook,
    run_id: int | None = None,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> DiffReport:
    """Compare every record written (by ``run_id``, or all still mapped) with Pipedrive."""
    tick = progress or (lambda step, done, total: None)
    sources = provenance(wb)
    names = {spec["key"]: (target, name) for (target, name), spec in setup.fields.items()}
    labels = {
        spec["key"]: {option_id: label for label, option_id in spec["options"].items()}
        for spec in setup.fields.values()
        if spec["options"]
    }
    report = DiffReport()
    items = state.payloads(run_id)
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def check(key: str, kind: str, pd_id: int, expected: dict[str, Any]) -> None:
        nonlocal done
        async with gate:
            actual = await read_back(pd, kind, pd_id)
        target = TARGET_OF.get(kind, kind)
        report.records[kind] += 1
        report.actual[key] = actual
        if actual is None:
            report.missing.append({"key": key, "object": kind, "id": pd_id})
        else:
            report.checks.extend(
                compare_record(kind, target, key, pd_id, expected, actual, names, labels, sources)
            )
        done += 1
        tick("verify", done, len(items))

    tick("verify", 0, len(items))
    await asyncio.gather(*(check(*item) for item in items))
    report.checks.sort(key=lambda c: (c.object, c.key, c.field))
    report.missing.sort(key=lambda m: m["key"])
    return report


def compare_record(
    kind: str,
    target: str,
    key: str,
    pd_id: int,
    expected: dict[str, Any],
    actual: dict[str, Any],
    names: dict[str, tuple[str, str]],
    labels: dict[str, dict[int, str]],
    sources: dict[tuple[str, str], str],
) -> list[FieldCheck]:
    """One FieldCheck per field sent (custom fields by name, not hash)."""
    out: list[FieldCheck] = []
    for name, value in expected.items():
        if kind == "files" and name in SKIPPED_FILE_FACTS:
            continue
        if name == "custom_fields":
            held = actual.get("custom_fields") or {}
            for code, want in (value or {}).items():
                field_target, field_name = names.get(code, (target, code))
                have = held.get(code)
                shown = labels.get(code, {})
                out.append(
                    FieldCheck(
                        kind, key, pd_id, field_name,
                        sources.get((field_target, field_name), "engine"),
                        shown.get(want, want) if isinstance(want, int) else want,
                        shown.get(have, have) if isinstance(have, int) else have,
                        same(want, have),
                    )
                )  # fmt: skip
            continue
        have = actual.get(name)
        if kind == "files" and name == "name":
            have = actual.get("name") or actual.get("file_name")
        out.append(
            FieldCheck(
                kind, key, pd_id, name, sources.get((target, name), "engine"),
                value, have, same(value, have, name),
            )
        )  # fmt: skip
    return out


def same(expected: Any, actual: Any, name: str = "") -> bool:
    """Equal once both sides are in Pipedrive's canonical form (time formats, money, labels)."""
    return normalise(expected, name) == normalise(actual, name)


def normalise(value: Any, name: str = "") -> Any:
    if value is None or value == "" or value == []:
        return None
    if name in {"emails", "phones"} and isinstance(value, list):
        return [
            (str(v.get("value", "")).strip(), bool(v.get("primary")), v.get("label"))
            for v in value
            if isinstance(v, dict)
        ]
    if name.endswith("_time") and name not in {"due_time"} and isinstance(value, str):
        return _timestamp(value)
    if name == "due_time" and isinstance(value, str):
        return value[:5]
    if isinstance(value, dict):
        if set(value) >= {"value", "currency"}:
            return (_number(value["value"]), value["currency"])
        if "value" in value:
            return normalise(value["value"])
        if "id" in value:
            return normalise(value["id"])
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return value.strip()
    return value


def _number(value: Any) -> Any:
    try:
        return round(float(value), 6)
    except (TypeError, ValueError):
        return value


def _timestamp(text: str) -> str:
    """``2024-01-02T03:04:05Z`` and ``2024-01-02 03:04:05`` are the same instant."""
    cleaned = text.strip().replace("T", " ").removesuffix("Z").split(".")[0]
    try:
        return datetime.fromisoformat(cleaned).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


#: records shown field by field on the HTML page (all of them are in the CSV)
HTML_RECORDS = 600


def write_diff(report: DiffReport, outdir: Path, title: str) -> tuple[Path, Path]:
    """``<stem>-diff.html`` (differences first, then every field) and the full CSV."""
    stem = title.lower().replace(" ", "-")
    local = {(t["key"], t["id"]): t["practice_time"] for t in practice_times(report)}

    def at(c: FieldCheck) -> str:
        return local.get((c.key, str(c.pd_id)), "") if c.field in {"due_date", "due_time"} else ""

    csv_path = write_csv(
        outdir / f"{stem}-diff.csv",
        ["object", "source_key", "pipedrive_id", "field", "mdc_source", "expected", "actual",
         "equal", "in_practice_time"],
        ([c.object, c.key, c.pd_id, c.field, c.source, _show(c.expected), _show(c.actual),
          "yes" if c.equal else "NO", at(c)] for c in report.checks),
    )  # fmt: skip
    write_json(outdir / f"{stem}-diff.json", report.summary())
    by_record: dict[str, list[FieldCheck]] = {}
    for c in report.checks:
        by_record.setdefault(f"{c.object}|{c.key}|{c.pd_id}", []).append(c)
    shown = sorted(by_record.items())
    # a full run reads back thousands of records: the page lists the first ones record by
    # record (differences are always listed in full above them); the CSV has every field
    html_path = write_html(
        outdir / f"{stem}-diff.html",
        "diff.html.j2",
        title=title,
        summary=report.summary(),
        differences=[_row(c, at(c)) for c in report.differences],
        missing=report.missing,
        records=[
            (k.split("|"), [_row(c, at(c)) for c in checks]) for k, checks in shown[:HTML_RECORDS]
        ],
        times=practice_times(report)[:TIME_EXAMPLES],
        timezone=report.timezone,
        records_left_out=max(len(shown) - HTML_RECORDS, 0),
        csv_name=csv_path.name,
    )
    return html_path, csv_path


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_show(v.get("value") if isinstance(v, dict) else v) for v in value)
    if isinstance(value, dict):
        if set(value) >= {"value", "currency"}:
            return f"{value['value']} {value['currency']}"
        if "value" in value:
            return _show(value["value"])
    return str(value)


def _row(c: FieldCheck, local: str = "") -> dict[str, Any]:
    return {
        "local": local,
        "object": c.object,
        "key": c.key,
        "id": c.pd_id,
        "field": c.field,
        "source": c.source,
        "expected": _show(c.expected),
        "actual": _show(c.actual),
        "equal": c.equal,
    }
