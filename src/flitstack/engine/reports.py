"""Reports of the engine's steps: setup (fields, pipelines, provider resolution) and delta, and
what every project page opens with: what needs the reader's attention, and what to do next.

Each is an offline HTML page plus CSV, owner-only, every value escaped by the templates.
"""

from __future__ import annotations

import csv
import json
import shlex
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flitstack.engine.migration import DeltaSummary
from flitstack.engine.state import StateStore
from flitstack.mapping.workbook import Workbook, WorkbookError, load_workbook
from flitstack.reporting import (
    Concern,
    initials,
    kind_label,
    plain_reason,
    read_csv,
    reason_kind,
    restore_cell,
    write_csv,
    write_html,
    write_json,
    write_private,
)

RESOLUTION_COLUMNS = ["provider", "name", "email", "user_id", "resolution"]
#: the diff files a report reads back (``verify.write_diff``'s stems), by check kind
DIFF_STEMS = {"sample": "sample", "full": "full-migration"}
#: the checks a report weighs, and how a page names them
CHECKS = (("full", "full migration"), ("sample", "sample"))
#: lines listed under one attention item; the rest are counted and in the linked CSV
LISTED = 12


def generated_at() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- where the project's export is ------------------------------------------------------------


def find_workbook(root: Path) -> Path | None:
    """The workbook of the project in ``root``: its ``flitstack.toml`` says where, else the
    default name (the demo's layout)."""
    from flitstack.project import load_project

    project_file = root / "flitstack.toml"
    if project_file.exists():
        try:
            wb = load_project(project_file).workbook
        except Exception:  # a broken project file: the page is still written, without it
            wb = root / "flitstack-map.yaml"
    else:
        wb = root / "flitstack-map.yaml"
    return wb if wb.exists() else None


def _load(workbook: Path | None) -> Workbook | None:
    if workbook is None or not workbook.exists():
        return None
    try:
        return load_workbook(workbook)
    except (WorkbookError, OSError, ValueError):
        return None


def recorded_export(workbook: Path | None) -> str:
    """The export the workbook was proposed from (its ``export`` field), or ""."""
    wb = _load(workbook)
    return wb.export if wb is not None else ""


def shown_export(export: str | Path | None, workbook: Path | None) -> str:
    """The export a page names: the one given, else the one the workbook records.

    ``flitstack report`` without ``--export`` gives "" (or "."): never shown as the export."""
    given = str(export or "").strip()
    if given in {"", "."}:
        return recorded_export(workbook)
    return given


def audit_inventory(root: Path, export: str) -> Path | None:
    """The schema inventory of the export, if audited: ``<root>/audit/`` (the demo), or
    ``EXPORT-audit/`` beside the export (``flitstack audit``'s default)."""
    candidates = [root / "audit" / "schema-inventory.html"]
    if export:
        path = Path(export)
        if not path.is_absolute():
            path = (root / path) if (root / path).exists() else path.resolve()
        stem = path.name.removesuffix(".zip")
        candidates.append(path.with_name(stem + "-audit") / "schema-inventory.html")
    return next((c for c in candidates if c.exists()), None)


def command(text: str, export: str = "") -> str:
    """A command with EXPORT replaced by the project's export, quoted for a shell."""
    return text.replace("EXPORT", shlex.quote(export) if export else "EXPORT")


# --- records named by their patient -------------------------------------------------------------

NOUNS = {
    "patients": "patient",
    "appointments": "appointment",
    "clinical_notes": "clinical note",
    "ledger_entries": "ledger",
    "treatment_plans": "treatment plan",
    "treatment_plan_items": "treatment plan item",
    "lab_cases": "lab case",
    "documents": "document",
    "recalls": "recall",
    "referrals": "referral",
    "locations": "location",
    "insurance_carriers": "insurance carrier",
    "patient_insurance": "insurance of",
    "providers": "provider",
}


class RecordNames:
    """Source keys (``appointments:1116``) as a person reads them: "appointment 1116 of patient
    1001 (J. S.)". A record's patient comes from the payload sent (its ``person_id``) and the ID
    map (state), else from the diff CSVs in the reports folder (kept after a rollback). Only
    the patient ID and initials are shown, never a name."""

    def __init__(self, state: StateStore | None = None, reports: Path | None = None) -> None:
        self.patient_of: dict[str, str] = {}  # record key → patient key
        self.names: dict[str, str] = {}  # patient key → name (only its initials are shown)
        self._state = state  # read at the first name asked for (a page without records never)
        self._reports = reports
        self._read_csvs = reports is None

    def _load_state(self) -> None:
        state, self._state = self._state, None
        if state is not None:
            self._add(
                (key, kind, pd_id, body.get("name"), body.get("person_id"))
                for key, kind, pd_id, body in state.payloads()
            )

    def _add(self, records: Iterable[tuple[str, str, int, Any, Any]]) -> None:
        """(key, kind, Pipedrive id, name if a person, its person's Pipedrive id): pd ids are
        only compared within one source (one account at one time)."""
        person_key: dict[int, str] = {}
        linked: list[tuple[str, int]] = []
        for key, kind, pd_id, name, person in records:
            if kind == "persons" and key.startswith("patients:"):
                person_key[int(pd_id)] = key
                if name:
                    self.names.setdefault(key, str(name))
            pid = _id(person)
            if pid is not None and not key.startswith("patients:"):
                linked.append((key, pid))
        for key, pid in linked:
            if pid in person_key:
                self.patient_of.setdefault(key, person_key[pid])

    def _load_csvs(self) -> None:
        self._read_csvs = True
        for stem in DIFF_STEMS.values():
            path = (self._reports or Path()) / f"{stem}-diff.csv"
            if path.exists():
                self._add(_diff_csv_people(path))

    def patient(self, key: str) -> str | None:
        self._load_state()
        if key.startswith("patients:"):
            return key
        if key not in self.patient_of and not self._read_csvs:
            self._load_csvs()
        return self.patient_of.get(key)

    def _initials(self, patient: str) -> str:
        if patient not in self.names and not self._read_csvs:
            self._load_csvs()
        return initials(self.names.get(patient))

    def __call__(self, key: str) -> str:
        file, _, rest = str(key).partition(":")
        if not rest:
            return str(key)
        sid, _, part = rest.partition(":")
        noun = NOUNS.get(file, file.replace("_", " ").removesuffix("s"))
        if sid == "org" and part:
            base = f"organization {part} (from {noun}s)"
        else:
            base = f"{noun} {sid}" + (f" ({part.replace('-', ' ')})" if part else "")
        patient = self.patient(str(key))
        if patient is None:
            return base
        who = patient.partition(":")[2]
        ini = self._initials(patient)
        named = f"patient {who}" + (f" ({ini})" if ini else "")
        return named if file == "patients" and not part else f"{base} of {named}"


def _id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("value", value.get("id"))
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _diff_csv_people(path: Path) -> Iterable[tuple[str, str, int, Any, Any]]:
    """Persons' names and every record's person from a diff CSV (``verify.write_diff``)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [restore_cell(h) for h in next(reader, [])]
        at = {h: i for i, h in enumerate(header)}
        need = ("object", "source_key", "pipedrive_id", "field", "expected")
        if not all(h in at for h in need):
            return
        for row in reader:
            if len(row) < len(header):
                continue
            name = restore_cell(row[at["field"]])
            if name not in {"name", "person_id"}:
                continue
            kind, key = restore_cell(row[at["object"]]), restore_cell(row[at["source_key"]])
            pd_id = _id(restore_cell(row[at["pipedrive_id"]]))
            value = restore_cell(row[at["expected"]])
            if pd_id is None:
                continue
            if name == "name" and kind == "persons":
                yield key, kind, pd_id, value, None
            elif name == "person_id":
                yield key, kind, pd_id, None, value


# --- what needs attention --------------------------------------------------------------------


def current_outcomes(state: StateStore) -> list[dict[str, Any]]:
    """Rejected, skipped and flagged rows as the latest full read of an export found them.

    Each run re-reads the export and records its outcomes; a sample's "not in the sample"
    skips, or an earlier run's duplicates, would only blur the picture.
    """
    full = [r["id"] for r in state.runs() if r["kind"] in {"migrate", "delta"}]
    return state.outcomes(max(full)) if full else state.outcomes()


def issues_by_kind(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Outcomes counted by (outcome, kind), most frequent first, each in plain words with an
    example reason: the run report's detail table and the attention's counts come from here."""
    counts: Counter[tuple[str, str]] = Counter()
    example: dict[tuple[str, str], str] = {}
    for o in outcomes:
        kind = reason_kind(o["reason"])
        counts[(o["outcome"], kind)] += 1
        example.setdefault((o["outcome"], kind), o["reason"])
    out = []
    for (outcome, kind), n in counts.most_common():
        label = kind_label(kind)
        out.append({
            "outcome": outcome, "kind": kind, "label": label[:1].upper() + label[1:],
            "example": plain_reason(example[(outcome, kind)]), "count": n,
        })  # fmt: skip
    return out


def last_summary(state: StateStore, kinds: set[str]) -> dict[str, Any] | None:
    done = [r for r in state.runs() if r["kind"] in kinds and r["summary"]]
    return dict(json.loads(done[-1]["summary"])) if done else None


def fallback_providers(resolution: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in resolution if "fallback" in r.get("resolution", "")]


def delta_review(delta: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Records a person should look at after a delta: those that need it (a changed document)
    and those no longer in the later export (kept in Pipedrive, never deleted)."""
    if not delta:
        return []
    return [*delta.get("needs_attention", []), *delta.get("disappeared", [])]


def project_attention(
    root: Path,
    state: StateStore,
    workbook: Path | None,
    export: str = "",
    *,
    names: RecordNames | None = None,
) -> list[Concern]:
    """Everything in the project that needs a person, most serious first, each with what to
    do next: read from the state, the workbook and the step reports in ``root/reports``."""
    from flitstack.engine.verify import unaccepted_losses

    reports = root / "reports"
    names = names or RecordNames(state, reports)
    wb = _load(workbook)
    out: list[Concern] = []

    migrate = last_summary(state, {"migrate"}) or last_summary(state, {"sample"}) or {}
    unaccounted = migrate.get("unaccounted") or {}
    if unaccounted:
        out.append(Concern(
            "unaccounted", "source rows not accounted for", sum(unaccounted.values()),
            "Every row should be migrated, merged, rejected or skipped. Run the step again "
            f"(`{command('flitstack migrate EXPORT', export)}` resumes, with no duplicate); if "
            "rows stay unaccounted for, report it with this page.",
            "bad", [(f"{f}.csv", str(n)) for f, n in unaccounted.items()],
        ))  # fmt: skip

    checks = [(k, label, state.last_check(k)) for k, label in CHECKS]
    for kind, label, check in sorted(
        ((k, label, c) for k, label, c in checks if c is not None),
        key=lambda item: str(item[2]["checked"]), reverse=True,
    ):  # fmt: skip
        diff_page = f"reports/{DIFF_STEMS[kind]}-diff.html"
        if check["differences"]:
            out.append(Concern(
                f"differences-{kind}", f"fields that differ or records missing after the {label}",
                int(check["differences"]),
                "Open the diff to see each one. Fix the map or the data, then "
                f"`{command('flitstack rollback EXPORT', export)}` and run the sample again "
                f"(`{command('flitstack migrate EXPORT --sample 200', export)}`).",
                "bad", link=diff_page,
            ))  # fmt: skip
        lost = unaccepted_losses(state, int(check["run_id"]), wb)
        if lost:
            out.append(Concern(
                f"losses-{kind}", f"losses over 1% nobody accepted ({label})", len(lost),
                "Fix the map or the data and run the step again, or accept each loss with a "
                'reason: `flitstack map accept-loss FILE [COLUMN] --reason "…"`, then '
                "`flitstack map confirm`.",
                "bad", [(plain_reason(line), "") for line in lost[:LISTED]],
                max(len(lost) - LISTED, 0), diff_page,
            ))  # fmt: skip
        summary = _json(reports / f"{DIFF_STEMS[kind]}-diff.json") or {}
        leaked = [
            p for p in summary.get("protection") or []
            if isinstance(p, dict) and p.get("clean") is False
        ]  # fmt: skip
        if leaked:
            out.append(Concern(
                f"withheld-{kind}", f"kinds of withheld patient data found in Pipedrive ({label})",
                len(leaked),
                "Data the practice decided to withhold must not be in the account. Open the "
                f"diff, then `{command('flitstack rollback EXPORT', export)}`, fix the map's "
                "protection decisions and run the sample again.",
                "bad",
                [(str(p.get("label") or p.get("category") or ""),
                  f"{int(p.get('found_in_account') or 0)} values, "
                  f"{int(p.get('records_of_withheld_kinds') or 0)} records") for p in leaked],
                link=diff_page,
            ))  # fmt: skip
        break  # the latest check is the one that counts

    rollback = _json(reports / "rollback.json")
    if rollback and rollback.get("differences"):
        diffs = list(rollback["differences"])
        out.append(Concern(
            "rollback", "differences left after the rollback", len(diffs),
            "The account does not match its snapshot from before the migration: look at each "
            f"in Pipedrive, then run `{command('flitstack rollback EXPORT', export)}` again.",
            "bad", [(str(d), "") for d in diffs[:LISTED]], max(len(diffs) - LISTED, 0),
        ))  # fmt: skip

    done = [r["kind"] for r in state.runs() if r["status"] == "done"]
    rolled_back = bool(done) and done[-1] == "rollback"  # the delta's records are gone too
    delta = last_summary(state, {"delta"}) or _json(reports / "delta.json")
    review = [] if rolled_back else delta_review(delta)
    if review:
        out.append(Concern(
            "delta", "records to review after the delta", len(review),
            "Look at each in Pipedrive: delete it there if the practice removed it on purpose "
            "(flitstack never deletes), and upload a changed document's new version by hand.",
            rows=[(f"{names(r['key'])} · {r['object']} {r['id']}", str(r["why"]))
                  for r in review[:LISTED]],
            more=max(len(review) - LISTED, 0), link="reports/delta.html",
        ))  # fmt: skip

    issues = issues_by_kind(current_outcomes(state))
    for outcome, title, todo in (
        ("rejected", "source rows rejected (not migrated)",
         "Each is in rejects-and-flags.csv with its file, line and why. Correct it in My Dental "
         "Clinic; the next `flitstack delta LATER-EXPORT` picks the corrected rows up."),
        ("flagged", "values flagged for a look",
         "Each is in rejects-and-flags.csv with its file, row, column and why. Check them in "
         "Pipedrive; correct the source in My Dental Clinic and run `flitstack delta "
         "LATER-EXPORT` to carry corrections over."),
    ):  # fmt: skip
        kinds = [i for i in issues if i["outcome"] == outcome]
        if kinds:
            out.append(Concern(
                outcome, title, sum(i["count"] for i in kinds), todo,
                rows=[(i["label"], str(i["count"])) for i in kinds],
                link="reports/rejects-and-flags.csv",
            ))  # fmt: skip

    resolution = _resolution(reports)
    fallback = fallback_providers(resolution)
    if fallback:
        out.append(Concern(
            "fallback", "providers whose records go to the fallback owner", len(fallback),
            "Before the full migration: add each as a Pipedrive user with the same e-mail and "
            f"run `{command('flitstack setup EXPORT', export)}` again. Records already migrated "
            "stay with the fallback owner: reassign them in Pipedrive.",
            rows=[(f"provider {r['provider']}: {r['name']}".strip(), plain_reason(r["resolution"]))
                  for r in fallback[:LISTED]],
            more=max(len(fallback) - LISTED, 0), link="reports/setup.html",
        ))  # fmt: skip

    if wb is not None:
        flagged = [c for c in wb.columns if c.review]
        if flagged:
            out.append(Concern(
                "review", "field-map entries still marked for review", len(flagged),
                "Check each in the map (`flitstack map review` opens it in your browser), "
                "set `review: false` on the ones that are right, then `flitstack map confirm`.",
                rows=[(f"{c.file}.{c.column} → {c.label or 'not migrated'}", plain_reason(c.reason))
                      for c in flagged[:LISTED]],
                more=max(len(flagged) - LISTED, 0),
            ))  # fmt: skip
    return out


def next_step(state: StateStore, export: str = "") -> str:
    """The journey's next command, when nothing else needs attention."""
    kinds = [r["kind"] for r in state.runs() if r["status"] == "done"]
    if kinds and kinds[-1] == "rollback":
        return "The migration was rolled back: nothing of it is left in Pipedrive."
    if "migrate" in kinds:
        if state.last_check("full") is None:
            return f"Read everything back: `{command('flitstack verify EXPORT', export)}`."
        return ("When the practice sends a later export, pick up what changed: "
                "`flitstack delta LATER-EXPORT`.")  # fmt: skip
    if "sample" in kinds:
        return f"Run the full migration: `{command('flitstack migrate EXPORT', export)}`."
    return (f"Migrate a sample of patients and check its diff: "
            f"`{command('flitstack migrate EXPORT --sample 200', export)}`.")  # fmt: skip


def _json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _resolution(reports: Path) -> list[dict[str, str]]:
    path = reports / "provider-resolution.csv"
    return read_csv(path) if path.exists() else []


def project_page(
    root: Path, state: StateStore, workbook: Path | None, export: str = ""
) -> dict[str, Any]:
    """What every project page shows around its detail: the export, when it was made, what
    needs attention and what to do next."""
    names = RecordNames(state, root / "reports")
    return {
        "export_path": export,
        "generated_at": generated_at(),
        "attention": project_attention(root, state, workbook, export, names=names),
        "next_step": next_step(state, export),
        "names": names,
    }


# --- the step reports --------------------------------------------------------------------------


def write_provider_resolution(outdir: Path, resolution: list[dict[str, str]]) -> Path:
    """Which Pipedrive user owns each provider's records, and why."""
    return write_csv(
        outdir / "provider-resolution.csv",
        RESOLUTION_COLUMNS,
        ([r[k] for k in RESOLUTION_COLUMNS] for r in resolution),
    )


def setup_facts(state: StateStore) -> dict[str, Any]:
    """Custom fields with their account-specific hash keys, and pipelines, from the state."""
    fields = [
        {"field": name, "key": code, "target": data.get("target", ""),
         "label": data.get("label", name.partition(":")[2] or name),
         "made": "created" if created else "reused (same name and type)"}
        for name, (code, data, created) in sorted(state.setup_items("field").items())
    ]  # fmt: skip
    pipelines = [
        {"pipeline": name, "id": pid, "made": "created" if created else "existing"}
        for name, (pid, _, created) in sorted(state.setup_items("pipeline").items())
    ]
    return {"fields": fields, "pipelines": pipelines}


def write_setup_report(
    outdir: Path,
    state: StateStore,
    resolution: list[dict[str, str]],
    export: str = "",
    workbook: Path | None = None,
    page: dict[str, Any] | None = None,
) -> Path:
    """``setup.html`` + ``custom-fields.csv`` + ``provider-resolution.csv``.

    The page opens with what needs attention in the project (the folder above ``outdir``);
    its export is the one given, else the one the project's workbook records."""
    facts = setup_facts(state)
    write_csv(
        outdir / "custom-fields.csv",
        ["field", "name in Pipedrive", "key", "target", "made"],
        ([f["field"], f["label"], f["key"], f["target"], f["made"]] for f in facts["fields"]),
    )
    write_provider_resolution(outdir, resolution)
    if page is None:
        root = outdir.parent
        workbook = workbook or find_workbook(root)
        page = project_page(root, state, workbook, shown_export(export, workbook))
    return write_html(
        outdir / "setup.html",
        "setup.html.j2",
        fields=facts["fields"],
        pipelines=facts["pipelines"],
        resolution=resolution,
        fallback=len(fallback_providers(resolution)),
        **page,
    )


def write_delta_report(
    outdir: Path,
    delta: DeltaSummary | dict[str, Any],
    export: Path | str,
    page: dict[str, Any] | None = None,
) -> Path:
    """``delta.html`` + ``delta.json`` + ``delta-disappeared.csv``.

    ``page`` is :func:`project_page`'s (the run report's refresh passes it); without it the
    page names records by their key and lists what the delta itself needs."""
    data = delta.as_dict() if isinstance(delta, DeltaSummary) else dict(delta)
    data["export"] = str(export)  # the later export, for the page written again later
    write_json(outdir / "delta.json", data)
    write_csv(
        outdir / "delta-disappeared.csv",
        ["key", "object", "pipedrive_id", "why"],
        ([d["key"], d["object"], d["id"], d["why"]] for d in data.get("disappeared", [])),
    )
    review = delta_review(data)
    if page is None:
        names = RecordNames()
        page = {
            "export_path": str(export), "generated_at": generated_at(), "names": names,
            "attention": [Concern(
                "delta", "records to review after the delta", len(review),
                "Look at each in Pipedrive: delete it there if the practice removed it on "
                "purpose (flitstack never deletes), and upload a changed document's new "
                "version by hand.",
                rows=[(f"{r['key']} · {r['object']} {r['id']}", str(r["why"]))
                      for r in review[:LISTED]],
                more=max(len(review) - LISTED, 0),
            )] if review else [],
            "next_step": "",
        }  # fmt: skip
    return write_html(
        outdir / "delta.html", "delta.html.j2", delta=data, export=str(export),
        review=len(review), **{**page, "export_path": str(export)},
    )  # fmt: skip


def write_audit_log(state: StateStore, out: Path) -> int:
    """Every write the migration made, as CSV or (for a ``.jsonl`` name) JSON lines."""
    rows = state.audit_rows()
    if out.suffix == ".jsonl":
        write_private(out, "".join(json.dumps(r) + "\n" for r in rows))
    else:
        header = list(rows[0]) if rows else ["id"]
        write_csv(out, header, ([r[h] for h in header] for r in rows))
    return len(rows)
