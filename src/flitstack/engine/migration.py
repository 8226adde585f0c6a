# mypy: disable-error-code="misc"
"""The migration run: setup, ordered load, sample diff, delta pickup and rollback.

Exactly once: before each create an intent is stored; after it the ID. A create whose answer
was lost, or that a killed run left as an intent, is first looked for in Pipedrive (by the
MDC source ID custom field, or the ``MDC ref`` marker in notes and activities) and only
created when it is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flitstack.engine.load import (
    Accounting,
    LoadContext,
    Upload,
    Write,
    file_marker,
    run_kinds,
)
from flitstack.engine.objects import KINDS
from flitstack.engine.records import (
    ENGINE_FIELDS,
    Builder,
    Setup,
    row_hash,
)
from flitstack.engine.staging import MemorySource, RowSource, Staging
from flitstack.engine.state import StateStore
from flitstack.engine.truth import source_truth
from flitstack.engine.verify import DiffReport, verify_records
from flitstack.engine.withheld import prove_withheld
from flitstack.errors import Refused
from flitstack.mapping.confirm import require_confirmed
from flitstack.mapping.known import field_label
from flitstack.mapping.practice import PracticeConflict, practice_settings
from flitstack.mapping.protection import apply_protection
from flitstack.mapping.roles import BindingError, Bindings
from flitstack.mapping.workbook import Workbook, load_workbook
from flitstack.pipedrive.client import PipedriveClient, record_path
from flitstack.pipedrive.costs import token_cost
from flitstack.pipedrive.errors import NotFound, ResponseLost
from flitstack.pipedrive.kinds import KINDS as OBJECT_KINDS
from flitstack.pipedrive.kinds import LOAD_ORDER as PIPEDRIVE_ORDER
from flitstack.settings import DuplicatePolicy, Settings
from flitstack.source.reader import Export, Reject, Row, open_export
from flitstack.source.schema import FILES, role

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
LOAD_ORDER = PIPEDRIVE_ORDER


#: Pipedrive's ``visible_to`` for "the owner's visibility group" (1 owner, 3 company, 5 group,
#: 7 group and sub-groups); the API cannot create the groups themselves
OWNERS_VISIBILITY_GROUP = 5
#: the audit log's source key for a record deleted by erasure (no patient ID kept)
FORGOTTEN = "(forgotten)"


class FallbackOwnerUnknown(Refused):
    """The project's fallback owner is not an active user of the account."""


def _is_field(field: dict[str, Any], key: str, ftype: str, label: str) -> bool:
    """A Pipedrive field is the map's ``key`` when it has the type and either the name staff
    read (``label``) or the key itself (accounts set up before fields had labels)."""
    return field.get("field_type") == ftype and field.get("field_name") in {key, label}


def field_labels(wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The name each custom field is created with: its readable label, unless that label is
    another field's key or label on the same object (then the key itself, never a clash)."""
    keys = list(wanted)
    taken: dict[tuple[str, str], int] = {}
    for target, name in keys:
        taken[(target, name)] = taken.get((target, name), 0) + 1
        label = field_label(name)
        if label != name:
            taken[(target, label)] = taken.get((target, label), 0) + 1
    out = {}
    for target, name in keys:
        label = field_label(name)
        out[(target, name)] = label if taken[(target, label)] == 1 else name
    return out


def _legacy_file_name(key: str) -> str:
    """How flitstack 0.1 named a document's file (``mdc-55-…``): found again after an upgrade."""
    source, _, sid = key.partition(":")
    legacy = {"documents": f"mdc-{sid}-", "ledger_entries": f"mdc-ledger-{sid}."}
    return legacy.get(source, file_marker(key))  # other files had no name before 0.2


@dataclass
class LoadSummary:
    """Counts that add up: every source row is migrated, merged, rejected or skipped."""

    source_rows: Counter[str] = field(default_factory=Counter)
    migrated: Counter[str] = field(default_factory=Counter)  # rows that became records
    merged: Counter[str] = field(default_factory=Counter)  # rows folded into another record
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    created: Counter[str] = field(default_factory=Counter)  # Pipedrive records by object
    matched: Counter[str] = field(default_factory=Counter)
    flagged: int = 0

    def unaccounted(self) -> dict[str, int]:
        out = {}
        for f, n in self.source_rows.items():
            done = self.migrated[f] + self.merged[f] + self.rejected[f] + self.skipped[f]
            if done != n:
                out[f] = n - done
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_rows": dict(self.source_rows),
            "migrated": dict(self.migrated),
            "merged": dict(self.merged),
            "rejected": dict(self.rejected),
            "skipped": dict(self.skipped),
            "created": dict(self.created),
            "matched": dict(self.matched),
            "flagged": self.flagged,
            "unaccounted": self.unaccounted(),
        }


@dataclass
class DeltaSummary:
    """What a later export changed: source rows new or edited, and what the run did about it."""

    new_rows: Counter[str] = field(default_factory=Counter)
    retried_rows: Counter[str] = field(default_factory=Counter)  # rejected/skipped before
    changed_rows: Counter[str] = field(default_factory=Counter)
    unchanged_rows: Counter[str] = field(default_factory=Counter)
    created: Counter[str] = field(default_factory=Counter)  # Pipedrive records by object
    updated: Counter[str] = field(default_factory=Counter)
    updates: list[dict[str, Any]] = field(default_factory=list)  # key, object, id, fields
    disappeared: list[dict[str, Any]] = field(default_factory=list)  # key, object, id
    needs_attention: list[dict[str, Any]] = field(default_factory=list)  # key, object, why
    load: LoadSummary = field(default_factory=LoadSummary)

    def as_dict(self) -> dict[str, Any]:
        return {
            "new_rows": dict(self.new_rows),
            "retried_rows": dict(self.retried_rows),
            "changed_rows": dict(self.changed_rows),
            "unchanged_rows": dict(self.unchanged_rows),
            "created": dict(self.created),
            "updated": dict(self.updated),
            "updates": self.updates,
            "disappeared": self.disappeared,
            "needs_attention": self.needs_attention,
            "load": self.load.as_dict(),
        }


#: Files whose rows become one record each, keyed ``<file>:<source id>`` (from the kinds).
KEYED_FILES = tuple(k.source for k in KINDS if k.keyed and k.source)
NEVER_PATCHED = {"add_time"}
#: An existing person keeps its creation time, e-mails and marketing consent when matched.
NOT_PATCHED_ON_MATCH = {"add_time", "emails", "marketing_status"}
#: The create call each keyed file's rows become, for the budget forecast.
CREATE_CALLS = {
    k.source: ("POST", OBJECT_KINDS[k.creates].create_path)
    for k in KINDS
    if k.keyed and k.source and k.creates
}


def _upload_facts(upload: Upload) -> dict[str, Any]:
    """What a file upload should leave in Pipedrive, for the diff and the delta (a document is
    hashed as a stream, never held whole)."""
    name, content, mime, links = upload
    if isinstance(content, bytes):
        digest = hashlib.sha256(content).hexdigest()[:20]
    else:
        digest = content.sha256()[:20]
    return {"name": name, "file_type_mime": mime, "file_size": len(content), "sha": digest, **links}


def patch_between(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The smallest patch turning a record sent as ``old`` into ``new`` (removed → null)."""
    patch: dict[str, Any] = {}
    for k in sorted(set(old) | set(new)):
        if k in NEVER_PATCHED:
            continue
        if k == "custom_fields":
            oc, nc = old.get(k) or {}, new.get(k) or {}
            changed = {h: nc.get(h) for h in sorted(set(oc) | set(nc)) if oc.get(h) != nc.get(h)}
            if changed:
                patch[k] = changed
        elif old.get(k) != new.get(k):
            patch[k] = new.get(k)
    return patch


def modified_at(row: Row) -> str:
    """When MDC last changed a row (its file's ``ModifiedAt``), or "" where none is kept."""
    if row.file not in FILES:
        return ""
    try:
        column = role(row.file, "modified_at")
    except KeyError:
        return ""
    return str(row.raw.get(column) or "")


def export_date(export: Export) -> date:
    """The day the export was taken (its manifest), else today: what dates are judged against."""
    taken = export.manifest.exported_at
    return taken.date() if taken is not None else date.today()


class NothingToFollow(Refused):
    """A delta was asked for in a project that has not migrated anything yet."""


class Migration:
    """One migration project: an export, a confirmed workbook, a state file, a client."""

    def __init__(
        self,
        export_path: Path,
        workbook_path: Path,
        state: StateStore,
        client: PipedriveClient,
        settings: Settings | None = None,
        concurrency: int = 16,
        progress: Progress | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.export_path, self.workbook_path = export_path, workbook_path
        self.notice = notice or log.warning
        self.state, self.pd = state, client
        self.settings = settings or Settings()
        self.concurrency = concurrency
        self.chunk = 500  # patients loaded (with their children) at a time
        self.progress = progress or (lambda step, done, total: None)
        # the engine runs the map with the practice's protection decisions applied
        self.wb: Workbook = apply_protection(load_workbook(workbook_path))
        self.bindings = Bindings.from_workbook(self.wb)
        self.setup_state = Setup()
        self.run_id = 0
        self.seen: set[str] = set()  # keys this run produced, to find what disappeared
        self.following: DeltaSummary | None = None  # set while a delta run follows changes
        self.resolution: list[dict[str, str]] = []
        self.existing_emails: dict[str, int] = {}  # pre-migration persons by e-mail
        self.existing_orgs: dict[str, int] = {}  # pre-migration organizations by name
        self.forgotten_keys: list[str] = []  # what the last ``forget`` erased
        self.field_labels: dict[tuple[str, str], str] = {}  # custom field → its name in Pipedrive
        #: location ID → e-mails of the users whose providers work there (visibility groups)
        self.visibility_groups: dict[str, set[str]] = {}
        self.location_names: dict[str, str] = {}

    # --- writes, audited ------------------------------------------------------------------------
    async def _write(
        self, method: str, path: str, obj: str, key: str, call: Awaitable[dict[str, Any]]
    ) -> dict[str, Any]:
        try:
            result = await call
        except Exception as exc:
            self.state.audit(
                self.run_id,
                method,
                path,
                obj,
                key,
                None,
                f"error: {exc}",
                token_cost(method, "/api" + path),
            )
            raise
        pd_id = result.get("id") if isinstance(result, dict) else None
        self.state.audit(
            self.run_id, method, path, obj, key, pd_id, "ok", token_cost(method, "/api" + path)
        )
        return result

    async def _find_existing(self, kind: str, key: str, person_id: int | None) -> int | None:
        """Find a record this migration may already have created (lost answer or killed run)."""
        lookup = OBJECT_KINDS[kind].lookup
        if lookup == "search":
            for item in await self.pd.search(kind, key, fields="custom_fields", exact=True):
                return int(item["id"])
            return None
        if person_id is None:
            return None
        marker = f"MDC ref: {html.escape(key, quote=False)}"  # as the note shows it
        # v1 files are listed per person on their own path (GET /v1/files takes no person_id)
        if lookup == "person_files":
            path, params = f"/v1/persons/{person_id}/files", {}
        else:
            path, params = OBJECT_KINDS[kind].create_path, {"person_id": person_id}
        async for item in self.pd.paginate(path, params):
            if kind == "files":
                name = str(item.get("name") or "")
                if name.startswith(file_marker(key)) or name.startswith(_legacy_file_name(key)):
                    return int(item["id"])
                continue
            text = item.get("note") or item.get("content") or ""
            if marker + "<" in text or text.endswith(marker):
                return int(item["id"])
        return None

    async def ensure(
        self,
        kind: str,
        key: str,
        body: dict[str, Any],
        *,
        person_id: int | None = None,
        row: Row | None = None,
        upload: Upload | None = None,
    ) -> int:
        """Create ``key`` once: reuse its mapping, recover a lost create, or create it.

        In a delta run a known record whose payload changed is patched instead (before-image
        kept first), so the account follows the newer export.
        """
        self._saw(key)
        expected = body if upload is None else _upload_facts(upload)
        known = self.state.pd_id(key)
        if known is not None:
            if self.following is not None:
                await self._follow_change(kind, key, known, expected, row)
            return known
        if self.state.has_intent(key):
            found = await self._find_existing(kind, key, person_id)
            if found is not None:
                self._record(kind, key, found, True, row, expected)
                return found
        self.state.intend(key, kind)
        for attempt in range(4):
            try:
                result = await self._create(kind, key, body, upload)
                self._record(kind, key, int(result["id"]), True, row, expected)
                if self.following is not None:
                    self.following.created[kind] += 1
                return int(result["id"])
            except ResponseLost:
                found = await self._find_existing(kind, key, person_id)
                if found is not None:
                    self._record(kind, key, found, True, row, expected)
                    return found
                if attempt == 3:
                    raise
        raise AssertionError("unreachable")

    async def _follow_change(
        self, kind: str, key: str, pd_id: int, expected: dict[str, Any], row: Row | None
    ) -> None:
        """Delta: patch a record whose expected content changed since it was written."""
        assert self.following is not None
        old = self.state.payload(key)
        mapping = self.state.mapping(key) or {}
        if row is not None and row_hash(row) != mapping.get("row_hash"):
            self.state.update_hash(key, row_hash(row), modified_at(row))
        if old is None:
            return  # matched under the skip policy: not ours to change
        if not mapping.get("created"):  # a record the account had: consent stays its own
            expected = {k: v for k, v in expected.items() if k not in NOT_PATCHED_ON_MATCH}
        patch = patch_between(old, expected)
        if not patch:
            return
        if kind == "files":
            self.following.needs_attention.append(
                {"key": key, "object": kind, "id": pd_id,
                 "why": "the document changed; Pipedrive files cannot be replaced in place, "
                        "upload the new version by hand"}
            )  # fmt: skip
            return
        path = record_path(kind, pd_id)
        if not mapping.get("created"):
            self.state.keep_before_image(kind, pd_id, await self.pd.get(kind, pd_id))
        method = OBJECT_KINDS[kind].update
        await self._write(method, path, kind, key, self.pd.request(method, path, json=patch))
        self.state.remember_payload(key, kind, pd_id, expected, self.run_id)
        self.following.updated[kind] += 1
        fields = sorted(
            [k for k in patch if k != "custom_fields"]
            + [self.setup_state.name_of(h) for h in patch.get("custom_fields", {})]
        )
        self.following.updates.append({"key": key, "object": kind, "id": pd_id, "fields": fields})

    async def _create(
        self,
        kind: str,
        key: str,
        body: dict[str, Any],
        upload: Upload | None,
    ) -> dict[str, Any]:
        if kind == "notes":
            return await self._write("POST", "/v1/notes", "note", key, self.pd.create_note(body))
        if kind == "files":
            assert upload is not None
            return await self._write("POST", "/v1/files", "file", key, self.pd.upload_file(*upload))
        return await self._write("POST", f"/v2/{kind}", kind, key, self.pd.create(kind, body))

    def _record(
        self,
        kind: str,
        key: str,
        pd_id: int,
        created: bool,
        row: Row | None,
        expected: dict[str, Any] | None = None,
    ) -> None:
        modified = modified_at(row) if row else ""
        self.state.record(
            key, kind, pd_id, created, self.run_id, row_hash(row) if row else "", modified
        )
        if expected is not None:
            self.state.remember_payload(key, kind, pd_id, expected, self.run_id)

    # --- reading the export --------------------------------------------------------------------
    def stage(self, export: Export, summary: LoadSummary) -> Staging:
        """Read the export once into a staging file beside the state (owner-only, removed when
        the run ends); rows the reader cannot read are rejected here, with their reason."""
        staged = Staging(self.state.path.with_name(self.state.path.stem + "-staging.sqlite"))

        def reject(name: str, item: Reject) -> None:
            summary.rejected[name] += 1
            self.state.note_outcome(
                self.run_id, name, "", item.line, item.column or "", "rejected", item.reason
            )

        def count(name: str) -> None:
            summary.source_rows[name] += 1

        def repeat(name: str, row: Row, outcome: str, why: str) -> None:
            (summary.skipped if outcome == "skipped" else summary.rejected)[name] += 1
            self.state.note_outcome(
                self.run_id, name, row.source_id, row.line, row.id_column or "", outcome, why
            )

        staged.stage(export, reject, count, repeat)
        return staged

    # --- setup -------------------------------------------------------------------------------
    async def setup(self) -> Setup:
        """Custom fields (reused when one of the same name and type exists), pipelines, users.

        Setup runs at the start of every migrate, delta and verify too, so it asks Pipedrive
        only what may have changed since: the field lists (a field deleted in Pipedrive
        meanwhile is created again) and the users (providers, the fallback owner). Pipelines,
        stages, the token's own user and the activity types an earlier setup resolved are read
        from the state while the map's pipelines are the same and nothing was rolled back.

        Independent reads go out together under the governor (with the rollback snapshot's
        lists the first time), and so do the field creates. What Pipedrive orders by creation
        stays in order: the pipelines in the workbook's order, each one's stages in turn after
        it (the next pipeline is created as soon as the previous one exists).
        """
        require_confirmed(self.workbook_path)
        self.check_practice()
        targets = ("person", "organization", "deal")
        wanted: dict[tuple[str, str], tuple[str, list[str]]] = {}
        for (target, name), custom in self.wb.custom_fields().items():
            if target in set(targets):
                wanted[(target, name)] = (custom.field_type, custom.options)
        for target, name, ftype, options in ENGINE_FIELDS:
            wanted.setdefault((target, name), (ftype, options))
        self.field_labels = field_labels(wanted)
        remembered = self.state.setup_items("field")
        made_pipelines = self.state.setup_items("pipeline")
        layout = [[pipe.name, list(pipe.stages)] for pipe in self.wb.pipelines]
        plan = hashlib.sha256(repr(layout).encode()).hexdigest()[:16]
        cached = self.state.setup_items("resolved").get("account")
        known: dict[str, Any] | None = cached[1] if cached and cached[0] == plan else None
        if known is not None and (
            any(f"{t}:{n}" not in remembered for t, n in wanted)  # rolled back since
            or any(
                str(known["pipelines"][name]) != (made_pipelines.get(name) or ("",))[0]
                for name in known["created"]
            )
        ):
            known = None

        async def together(*jobs: Awaitable[Any]) -> list[Any]:
            """Every job to its end (a create is never left half-way), then the first error."""
            results = await asyncio.gather(*jobs, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            return results

        first = self.state.snapshot() is None  # before the first write, for the rollback proof
        lists: dict[str, asyncio.Future[Any]] = {
            t: asyncio.ensure_future(self.pd.fields(t)) for t in targets
        }
        if known is None or first:
            lists["pipelines"] = asyncio.ensure_future(self.pd.list_all("/v2/pipelines"))
            lists["stages"] = asyncio.ensure_future(self.pd.list_all("/v2/stages"))

        shared: dict[str, Awaitable[Any]] = dict(lists)

        async def nothing() -> Any:
            return None

        users_all, me, types, snapshot, *_ = await together(
            self.pd.users(),
            self.pd.me() if known is None else nothing(),
            self.pd.activity_types() if known is None else nothing(),
            self.snapshot_account(shared) if first else nothing(),
            *lists.values(),
        )
        # providers become the account's active users by e-mail; the fallback owner must be one
        users = [u for u in users_all if u.get("active_flag", True)]
        by_email = {str(u.get("email", "")).casefold(): int(u["id"]) for u in users}
        fallback = (self.settings.fallback_owner_email or "").strip()
        if fallback and fallback.casefold() not in by_email:
            raise FallbackOwnerUnknown(
                f"the fallback owner {fallback!r} is not an active user of this Pipedrive "
                f"account (its users: {', '.join(sorted(str(u.get('email')) for u in users))}): "
                "set [migration] fallback_owner_email in flitstack.toml to one of them"
            )
        if first:
            self.state.save_snapshot(snapshot)
        self._index_existing(snapshot if first else self.state.snapshot() or {})
        s = Setup()
        existing: dict[str, list[dict[str, Any]]] = {t: lists[t].result() for t in targets}

        async def field(target: str, name: str, ftype: str, options: list[str]) -> None:
            label = self.field_labels[(target, name)]
            match = next((f for f in existing[target] if _is_field(f, name, ftype, label)), None)
            created = match is None
            if match is None:  # created under the name staff read; the key stays its identity
                match = await self._setup_create(
                    lambda: self._write(
                        "POST", f"/v2/{target}Fields", "field", name,
                        self.pd.create_field(target, label, ftype, options or None),
                    ),
                    lambda: self._find_field(target, name, ftype),
                )  # fmt: skip
            opts = {str(o["label"]).casefold(): int(o["id"]) for o in match.get("options") or []}
            s.fields[(target, name)] = {"key": match["field_code"], "type": ftype, "options": opts}
            code = match["field_code"]
            prior = remembered.get(f"{target}:{name}")
            if created or prior is None or prior[0] != code:  # a field made again is another
                self.state.remember_setup(
                    "field", f"{target}:{name}", code, {"target": target},
                    created or bool(prior and prior[2] and prior[0] == code),
                )  # fmt: skip

        await together(*(field(t, n, ft, o) for (t, n), (ft, o) in wanted.items()))
        s.fields = {k: s.fields[k] for k in wanted}  # in the map's order, whatever came first

        if known is not None:
            s.pipelines = {name: int(pid) for name, pid in known["pipelines"].items()}
            s.stages = {(p, st): int(sid) for p, st, sid in known["stages"]}
        else:
            pipelines = {p["name"]: p for p in lists["pipelines"].result()}
            stages_of: dict[int, dict[str, dict[str, Any]]] = {}
            for st in lists["stages"].result():
                stages_of.setdefault(int(st["pipeline_id"]), {}).setdefault(st["name"], st)

            async def pipeline(name: str, after: Awaitable[int] | None) -> int:
                if after is not None:
                    await after  # Pipedrive lists pipelines in the order they were made
                p = pipelines.get(name)
                if p is None:
                    p = await self._setup_create(
                        lambda: self._write(
                            "POST", "/v2/pipelines", "pipeline", name,
                            self.pd.request("POST", "/v2/pipelines", json={"name": name}),
                        ),
                        lambda: self._find_named("/v2/pipelines", {}, name),
                    )  # fmt: skip
                    p = p.get("data", p)
                    self.state.remember_setup("pipeline", name, str(p["id"]), {}, True)
                    pipelines[name] = p
                s.pipelines[name] = int(p["id"])
                return int(p["id"])

            async def stages(name: str, wanted_stages: list[str], made: Awaitable[int]) -> None:
                pid = await made
                there = stages_of.get(pid, {})
                for stage in wanted_stages:  # in order: Pipedrive orders stages as they are made
                    st = there.get(stage)
                    if st is None:
                        body = {"name": stage, "pipeline_id": pid}
                        res = await self._setup_create(
                            lambda b=body: self._write(
                                "POST", "/v2/stages", "stage", str(b["name"]),
                                self.pd.request("POST", "/v2/stages", json=b),
                            ),
                            lambda b=body: self._find_named(
                                "/v2/stages", {"pipeline_id": pid}, str(b["name"])
                            ),
                        )  # fmt: skip
                        st = res.get("data", res)
                    s.stages[(name, stage)] = int(st["id"])

            chain: list[Awaitable[None]] = []
            before: asyncio.Future[int] | None = None
            for pipe in self.wb.pipelines:
                made = asyncio.ensure_future(pipeline(pipe.name, before))
                chain.append(stages(pipe.name, list(pipe.stages), made))
                before = made
            await together(*chain)
            s.pipelines = {p.name: s.pipelines[p.name] for p in self.wb.pipelines}
            s.stages = {(p.name, st): s.stages[(p.name, st)]
                        for p in self.wb.pipelines for st in p.stages}  # fmt: skip
        if known is None:
            me_id, activity_types = int(me["id"]), {t["key_string"] for t in types}
        else:
            me_id, activity_types = int(known["me"]), set(known["activity_types"])
        s.fallback_user = by_email.get(fallback.casefold(), me_id)
        s.activity_types = activity_types
        made_pipelines = self.state.setup_items("pipeline")  # rollback deletes only these
        self.state.remember_setup(
            "resolved", "account", plan,
            {"pipelines": s.pipelines,
             "created": sorted(set(s.pipelines) & set(made_pipelines)),
             "stages": [[p, st, sid] for (p, st), sid in s.stages.items()],
             "me": me_id, "activity_types": sorted(activity_types)},
            False,
        )  # fmt: skip
        self.resolution = []
        with open_export(self.export_path, self.bindings) as export:
            for row in export.read("providers") if export.has("providers") else []:
                if not isinstance(row, Row):
                    continue
                email = str(row.raw.get(role("providers", "email")) or "").strip()
                pid = row.source_id or ""
                user = by_email.get(email.casefold()) if email else None
                if user is not None:
                    s.provider_users[pid] = user
                    how = "matched by e-mail"
                else:
                    s.provider_users[pid] = s.fallback_user
                    how = "no e-mail in MDC" if not email else "no Pipedrive user with this e-mail"
                    how += ": records go to the fallback owner"
                name = " ".join(
                    str(row.raw.get(role("providers", part)) or "")
                    for part in ("first_name", "last_name")
                ).strip()
                self.resolution.append(
                    {"provider": pid, "name": name, "email": email,
                     "user_id": str(s.provider_users[pid]), "resolution": how}
                )  # fmt: skip
                location = str(row.values.get(role("providers", "location_id")) or "").strip()
                if user is not None:
                    self.visibility_groups.setdefault(location, set()).add(email)
            names = {r.source_id: str(r.values.get(role("locations", "name")) or "")
                     for r in export.read("locations") if isinstance(r, Row)
                     } if export.has("locations") else {}  # fmt: skip
            self.location_names = {k or "": v for k, v in names.items()}
        self.setup_state = s
        return s

    def check_practice(self) -> None:
        """Before anything is read as practice time or money: the project's time zone,
        currency and tooth numbering agree with the export's manifest (or the workbook says the
        project's value is meant) and with what the map was confirmed with."""
        with open_export(self.export_path, self.bindings) as export:
            export.check_headers()  # a duplicate header or a binary file: refused here
            export.check_parts()  # appointments_2023.csv: its rows would be left out
            unbound = self.bindings.missing_identity(export.csv_files())
            if unbound:  # rows could not be told apart: nothing could be written exactly once
                raise BindingError("; ".join(unbound))
            # unset facts come from the export's manifest; a conflict is refused
            self.settings = practice_settings(
                export.manifest, self.settings, self.wb.manifest_overrides,
                f"{self.export_path}/export.json",
            )  # fmt: skip
        confirmed = self.wb.settings
        for fact, name in (("timezone", "timezone"), ("currency", "currency"),
                           ("source_tooth_notation", "source tooth notation")):  # fmt: skip
            then = confirmed.get(fact)
            value = getattr(self.settings, fact)
            now = str(getattr(value, "value", value))
            if then is not None and str(then) != now:
                raise PracticeConflict(
                    f"the map was confirmed with {name} {then!r} but the project now says "
                    f"{now!r}: set it back, or change the workbook's settings to {now!r} and "
                    "confirm the map again"
                )

    def _index_existing(self, snapshot: dict[str, Any]) -> None:
        """Contacts the account held before the migration, by e-mail and by org name.

        Matching against this index instead of one search per record keeps the load off the
        search API's low burst limit (10 per 2 s); the snapshot lists every person anyway.
        """
        self.existing_emails = {}
        for person in snapshot.get("persons", []):
            for e in person.get("emails") or []:
                value = str(e.get("value") if isinstance(e, dict) else e).strip().casefold()
                if value:
                    self.existing_emails.setdefault(value, int(person["id"]))
        self.existing_orgs = {
            str(o.get("name") or "").strip().casefold(): int(o["id"])
            for o in snapshot.get("organizations", [])
        }

    async def _setup_create(
        self,
        create: Callable[[], Awaitable[dict[str, Any]]],
        find: Callable[[], Awaitable[dict[str, Any] | None]],
    ) -> dict[str, Any]:
        """A setup create whose answer may be lost: look for it before trying again."""
        for attempt in range(4):
            try:
                return await create()
            except ResponseLost:
                found = await find()
                if found is not None:
                    return found
                if attempt == 3:
                    raise
        raise AssertionError("unreachable")

    async def _find_field(self, target: str, name: str, ftype: str) -> dict[str, Any] | None:
        fields = await self.pd.fields(target)
        label = self.field_labels.get((target, name), name)
        return next((f for f in fields if _is_field(f, name, ftype, label)), None)

    async def _find_named(
        self, path: str, params: dict[str, Any], name: str
    ) -> dict[str, Any] | None:
        return next((x for x in await self.pd.list_all(path, params) if x["name"] == name), None)

    # --- load --------------------------------------------------------------------------------
    async def _gather(self, step: str, jobs: list[Callable[[], Awaitable[Any]]]) -> None:
        gate = asyncio.Semaphore(self.concurrency)
        done = 0

        async def run(job: Callable[[], Awaitable[Any]]) -> None:
            nonlocal done
            async with gate:
                await job()
            done += 1
            self.progress(step, done, len(jobs))

        self.progress(step, 0, len(jobs))
        await asyncio.gather(*(run(j) for j in jobs))

    async def snapshot_account(
        self, reading: dict[str, Awaitable[Any]] | None = None
    ) -> dict[str, Any]:
        """Everything in the account that a migration could touch, for the rollback proof.

        Every list is read at once (a list's own pages in turn). ``reading`` holds lists being
        read already for the same moment (setup's field lists by target, ``pipelines``,
        ``stages``): they are awaited, not asked again.
        """
        reading = reading or {}
        reads: dict[str, Awaitable[Any]] = {}
        for kind in ("persons", "organizations", "deals", "activities"):
            reads[kind] = self.pd.list_all(f"/v2/{kind}")
        for kind in ("notes", "files"):
            reads[kind] = self.pd.list_all(f"/v1/{kind}")
        for target in ("person", "organization", "deal"):
            reads[f"{target}Fields"] = reading.get(target) or self.pd.fields(target)
        for kind in ("pipelines", "stages"):
            reads[kind] = reading.get(kind) or self.pd.list_all(f"/v2/{kind}")
        results = await asyncio.gather(*reads.values(), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        data: dict[str, Any] = dict(zip(reads, results, strict=True))
        for target in ("person", "organization", "deal"):
            data[f"{target}Fields"] = [
                f for f in data[f"{target}Fields"] if f.get("is_custom_field")
            ]
        return data

    async def migrate(self, sample: int | None = None, kind: str = "migrate") -> LoadSummary:
        """Load everything (or a sample of patients that covers the hard cases), in order."""
        require_confirmed(self.workbook_path)
        self.run_id = self.state.start_run(kind)
        self.seen = set()
        self.audit_protection()
        await self.setup()
        summary = LoadSummary()
        with (
            open_export(self.export_path, self.bindings) as export,
            self.stage(export, summary) as staged,
        ):
            if not sample:
                self.forecast_budget(staged)
            summary = await self._load(export, staged, summary, sample)
        for k, v in self.state.counts().items():
            summary.created[k] = v.get("created", 0)
            summary.matched[k] = v.get("matched", 0)
        self.state.finish_run(self.run_id, "done", summary.as_dict())
        return summary

    def audit_protection(self) -> None:
        """The audit log says, for each run, what the practice decided per category of
        patient data (the decisions confirmed with the map)."""
        protection = self.wb.protection
        if protection is None:
            return
        said = "; ".join(
            f"{name}: {d.decision or 'undecided'}" for name, d in protection.decisions.items()
        )
        if protection.accepted_as_proposed_by:
            said += f" (accepted as proposed by {protection.accepted_as_proposed_by})"
        self.state.audit(self.run_id, "DECIDE", f"protection:{protection.profile}",
                         "protection", "", None, said, 0)  # fmt: skip

    def forecast_budget(self, rows: RowSource) -> dict[str, int | None]:
        """Tokens the records still to create will cost, against what the account has left.

        Pipedrive tells the budget left in each response's headers; when the run cannot fit,
        say so before the first record moves. The run still goes ahead: it stops cleanly when
        the budget is spent and the same command resumes it after the daily reset.
        """
        needed = 0
        mapped = {key for key, *_ in self.state.mapped_keys()}  # one query, not one per row
        for file, (method, path) in CREATE_CALLS.items():
            pending = sum(1 for r in rows.rows(file) if f"{file}:{r.source_id}" not in mapped)
            needed += pending * token_cost(method, path)
        left = self.pd.governor.budget_left
        if self.pd.governor.will_exhaust(needed):
            self.notice(
                f"this run needs about {needed:,} API tokens and the account has {left:,} left "
                "today: it will pause when the budget is spent; run the same command again "
                "after the daily reset and it resumes where it stopped"
            )
        return {"needed": needed, "left": left}

    async def delta(self, new_export: Path) -> DeltaSummary:
        """Follow a later export: create what is new, patch what changed, list what vanished.

        Nothing is deleted: a record whose source row disappeared (or was marked Deleted) is
        reported so a person decides. Records changed in place get their before-image kept
        when the migration did not create them, so rollback still restores them.
        """
        require_confirmed(self.workbook_path)
        if not self.state.mapped_keys():
            raise NothingToFollow(
                "nothing has been migrated in this project yet: run `flitstack migrate` first"
            )
        self.export_path = new_export
        self.run_id = self.state.start_run("delta")
        self.seen = set()
        await self.setup()
        delta = self.following = DeltaSummary()
        summary = LoadSummary()
        try:
            with (
                open_export(new_export, self.bindings) as export,
                self.stage(export, summary) as staged,
            ):
                self._classify(staged, delta)
                delta.load = await self._load(export, staged, summary, None)
        finally:
            self.following = None
        for key, kind, pd_id, _created in self.state.mapped_keys():
            if key not in self.seen:
                delta.disappeared.append(
                    {"key": key, "object": kind, "id": pd_id,
                     "why": "gone from the later export, or its patient is now Deleted: "
                            "left in Pipedrive for a person to review"}
                )  # fmt: skip
        for k, v in self.state.counts().items():
            delta.load.created[k] = v.get("created", 0)
            delta.load.matched[k] = v.get("matched", 0)
        self.state.finish_run(self.run_id, "done", delta.as_dict())
        return delta

    async def verify(self, run_id: int | None = None, kind: str = "sample") -> DiffReport:
        """Read back what ``run_id`` wrote (or everything still mapped) and diff it field by field.

        The result is stored as a check, so the full run can require a clean sample first.
        """
        if not self.setup_state.fields:
            await self.setup()
        report = await verify_records(
            self.pd, self.state, self.setup_state, self.wb, run_id, progress=self.progress
        )
        report.timezone = self.settings.timezone
        report.truth = source_truth(
            self.export_path,
            self.bindings,
            self.wb,
            self.state,
            self.setup_state,
            report.actual,
            run_id,
            sample=kind == "sample",
        )
        report.protection = prove_withheld(
            self.export_path, self.bindings, self.wb.protection, report.actual,
            self.wb, self.setup_state,
        )  # fmt: skip
        self.state.record_check(
            run_id or self.run_id,
            kind,
            len(report.checks),
            # a withheld value found in the account blocks the gate like a difference
            len(report.differences)
            + len(report.missing)
            + sum(p.found + p.records_of_withheld_kinds for p in report.protection),
            sum(report.records.values()),
        )
        self.state.record_losses(run_id or self.run_id, report.truth.over_limit())
        return report

    def _classify(self, rows: RowSource, delta: DeltaSummary) -> None:
        """New, changed or unchanged source rows, by the stored row hash and ModifiedAt."""
        for file in KEYED_FILES:
            reported = self.state.reported_ids(file)
            for r in rows.rows(file):
                mapping = self.state.mapping(f"{file}:{r.source_id}")
                if mapping is None and (r.source_id or "") in reported:
                    delta.retried_rows[file] += 1
                elif mapping is None:
                    delta.new_rows[file] += 1
                elif mapping["row_hash"] != row_hash(r) or mapping["modified"] != modified_at(r):
                    delta.changed_rows[file] += 1
                else:
                    delta.unchanged_rows[file] += 1

    async def _load(
        self, export: Export, rows: RowSource, summary: LoadSummary, sample: int | None
    ) -> LoadSummary:
        """Run the declared object kinds (``engine/objects``) against this migration."""
        b = Builder(self.wb, self.settings, self.setup_state)
        b.reference_date = export_date(export)
        b.sink = lambda p: self.state.note_outcome(
            self.run_id, p.file, p.source_id, p.line, p.field, p.outcome, p.reason
        )
        b.providers = {r.source_id or "": r for r in rows.rows("providers")}
        b.locations = {r.source_id or "": r for r in rows.rows("locations")}
        accounting = Accounting(
            lambda *outcome: self.state.note_outcome(self.run_id, *outcome),
            source_rows=summary.source_rows,
        )
        # rows the reader could not read at all, and rows repeating an earlier row's ID
        for outcome in ("rejected", "skipped"):
            for file, n in getattr(summary, outcome).items():
                accounting.outcomes[outcome][file] += n
        export.max_document_bytes = int(self.settings.max_document_mb * 1024 * 1024)
        await run_kinds(
            KINDS, self, b, rows, accounting,
            chosen={p or "" for p in self.pick_sample(rows, sample)} if sample else None,
            shared={"export": export}, concurrency=self.concurrency, progress=self.progress,
            chunk=self.chunk,
        )  # fmt: skip
        out = LoadSummary(source_rows=summary.source_rows)
        out.migrated = accounting.outcomes["migrated"]
        out.merged = accounting.outcomes["merged"]
        out.rejected = accounting.outcomes["rejected"]
        out.skipped = accounting.outcomes["skipped"]
        out.flagged = b.flagged
        return out

    async def write(self, w: Write, ctx: LoadContext) -> int:
        """The Pipedrive target: one write, exactly once (see :meth:`ensure`)."""
        if w.match == "organization":
            return await self._organization(w)
        body = w.build()
        if self.settings.visibility_by_location and w.kind in {"persons", "deals"}:
            body["visible_to"] = OWNERS_VISIBILITY_GROUP
        if w.match == "person":
            return await self._person(w.key, body, w.row)  # type: ignore[arg-type]
        person_id = ctx.ids["persons"].get(w.person) if w.person else None
        upload = w.upload() if w.upload is not None else None
        return await self.ensure(w.kind, w.key, body, person_id=person_id, row=w.row, upload=upload)

    def _saw(self, key: str) -> None:
        """A delta lists the records it did not see again; a migration need not remember."""
        if self.following is not None:
            self.seen.add(key)

    async def _organization(self, w: Write) -> int:
        """An organization, or the same-name one the account already had (duplicate policy)."""
        key = w.key
        known = self.state.pd_id(key)
        existing = self.existing_orgs.get(w.name.strip().casefold())
        if self.settings.duplicate_policy is DuplicatePolicy.CREATE:
            existing = None
        if known is None and existing is not None and not self.state.has_intent(key):
            self._saw(key)
            patch: dict[str, Any] | None = None
            if self.settings.duplicate_policy is DuplicatePolicy.UPDATE:
                # patched like a matched person: its before-image kept, so rollback restores it
                self.state.keep_before_image(
                    "organizations", existing, await self.pd.get("organizations", existing)
                )
                patch = {k: v for k, v in w.build().items() if k not in NOT_PATCHED_ON_MATCH}
                await self._write(
                    "PATCH", f"/v2/organizations/{existing}", "organizations", key,
                    self.pd.patch("organizations", existing, patch),
                )  # fmt: skip
            self._record("organizations", key, existing, False, w.row, patch)
            return existing
        return await self.ensure("organizations", key, w.build(), row=w.row)

    async def _person(self, key: str, body: dict[str, Any], row: Row) -> int:
        known = self.state.pd_id(key)
        if known is not None:
            self._saw(key)
            if self.following is not None:
                await self._follow_change("persons", key, known, body, row)
            return known
        policy = self.settings.duplicate_policy
        if (
            policy is not DuplicatePolicy.CREATE
            and body.get("emails")
            and not self.state.has_intent(key)
        ):
            email = str(body["emails"][0]["value"]).strip().casefold()
            found = self.existing_emails.get(email)
            if found is not None:
                pd_id = found
                self._saw(key)
                patch: dict[str, Any] | None = None
                if policy is DuplicatePolicy.UPDATE:
                    before = await self.pd.get("persons", pd_id)
                    self.state.keep_before_image("persons", pd_id, before)
                    # consent stays as the account has it: Pipedrive lets marketing_status
                    # change only once, so a rollback could never put it back
                    patch = {k: v for k, v in body.items() if k not in NOT_PATCHED_ON_MATCH}
                    await self._write(
                        "PATCH",
                        f"/v2/persons/{pd_id}",
                        "persons",
                        key,
                        self.pd.patch("persons", pd_id, patch),
                    )
                self._record("persons", key, pd_id, False, row, patch)
                return pd_id
        return await self.ensure("persons", key, body, row=row)

    def pick_sample(self, rows: RowSource | dict[str, list[Row]], size: int) -> set[str | None]:
        """Patients covering the hard cases first (each kind declares the cases its rows make:
        a second coverage, an active plan, a lab case, notes, documents…), then the richest
        others: exactly ``size`` when that many can be migrated (Deleted ones cannot), else all
        of them; ``sample_picked`` says how many and why."""
        source = MemorySource(rows) if isinstance(rows, dict) else rows
        b = Builder(self.wb, self.settings, self.setup_state)
        features: dict[str, set[str]] = {}
        for kind in KINDS:
            if kind.source is None or kind.parent != "patients":
                continue
            for r in source.rows(kind.source):
                marks = set(kind.features(r, b))
                if marks:
                    pid = str(r.values.get(kind.parent_role) or "").strip()
                    features.setdefault(pid, set()).update(marks)
        # eligible as the patients kind selects them: not marked with a skip value (Deleted)
        skip: dict[str, set[str]] = {}
        for c in b.cols("patients"):
            if c.options.get("skip_values"):
                skip.setdefault(c.key, set()).update(str(v) for v in c.options["skip_values"])
        patients: dict[str, None] = {}
        skipped: dict[str, set[str]] = {}  # skip value (Deleted) → patients marked with it
        for p in source.rows("patients"):
            pid = p.source_id or ""
            held = [(str(p.values.get(k) or ""), values) for k, values in skip.items()]
            marked = next((v for v, values in held if v in values), None)
            if marked is None:
                patients.setdefault(pid)
            else:
                skipped.setdefault(marked, set()).add(pid)
        chosen = pick_covering(list(patients), features, size)
        #: what the sample took, and why fewer than asked (for the person who asked)
        self.sample_picked: dict[str, Any] = {
            "asked": size, "picked": len(chosen), "eligible": len(patients),
            "skipped": {mark: len(ids - set(patients)) for mark, ids in sorted(skipped.items())},
        }  # fmt: skip
        return set(chosen)

    # --- rollback ------------------------------------------------------------------------------
    async def rollback(self) -> dict[str, Any]:
        """Delete what the migration created (reverse order), restore before-images, prove it."""
        self.run_id = self.state.start_run("rollback")
        deleted: Counter[str] = Counter()
        for kind in reversed(LOAD_ORDER):
            items = self.state.created(kind)

            async def drop(key: str, pd_id: int, kind: str = kind) -> None:
                await self._write_delete(kind, key, pd_id, record_path(kind, pd_id))
                self.state.forget(key)
                deleted[kind] += 1

            await self._gather(f"delete {kind}", [lambda k=k, i=i: drop(k, i) for k, i in items])
        for kind, pd_id, data in self.state.before_images():
            try:
                current = await self.pd.get(kind, pd_id)
            except NotFound:
                continue
            restore = restore_body(data, current)
            if not restore:
                continue
            with contextlib.suppress(NotFound):
                await self._write(
                    "PATCH",
                    f"/v2/{kind}/{pd_id}",
                    kind,
                    "before-image",
                    self.pd.patch(kind, pd_id, restore),
                )
        for key, _matched in [(k, i) for k, i in self._matched_keys()]:
            self.state.forget(key)
        for name, (code, data, created) in self.state.setup_items("field").items():
            if created:
                target = data["target"]
                with contextlib.suppress(NotFound):
                    await self._write(
                        "DELETE",
                        f"/v2/{target}Fields/{code}",
                        "field",
                        name,
                        self.pd.request("DELETE", f"/v2/{target}Fields/{code}"),
                    )
            self.state.forget_setup("field", name)
        for name, (pid, _, created) in self.state.setup_items("pipeline").items():
            if created:
                with contextlib.suppress(NotFound):
                    await self._write(
                        "DELETE",
                        f"/v2/pipelines/{pid}",
                        "pipeline",
                        name,
                        self.pd.request("DELETE", f"/v2/pipelines/{pid}"),
                    )
            self.state.forget_setup("pipeline", name)
        after = await self.snapshot_account()
        before = self.state.snapshot() or {}
        differences = compare_accounts(before, after)
        result = {
            "deleted": dict(deleted),
            "restored": len(self.state.before_images()),
            "differences": differences,
        }
        self.state.finish_run(self.run_id, "done" if not differences else "differences", result)
        return result

    def _matched_keys(self) -> list[tuple[str, int]]:
        rows = self.state.db.execute("SELECT key, pd_id FROM idmap WHERE created=0")
        return [(r[0], int(r[1])) for r in rows]

    async def forget(self, patient_ids: list[str]) -> dict[str, Any]:
        """Erasure: delete each patient's person and every record linked to it from Pipedrive,
        then purge the patient from the local state. The audit log keeps one line per deleted
        record, its key replaced by ``(forgotten)``: no personal data, no patient ID."""
        self.run_id = self.state.start_run("forget")
        deleted: Counter[str] = Counter()
        not_found: list[str] = []
        forgotten: list[str] = []
        payloads = self.state.payloads()
        order = {kind: n for n, kind in enumerate(LOAD_ORDER)}
        for pid in patient_ids:
            key = f"patients:{pid}"
            person = self.state.pd_id(key)
            if person is None:
                not_found.append(pid)
                continue
            linked = [(k, kind, pd_id) for k, kind, pd_id, body in payloads
                      if k != key and body.get("person_id") == person]  # fmt: skip
            linked.sort(key=lambda item: -order.get(item[1], 0))  # children before parents
            for k, kind, pd_id in [*linked, (key, "persons", person)]:
                with contextlib.suppress(NotFound):
                    await self._write_delete(kind, FORGOTTEN, pd_id, record_path(kind, pd_id))
                self.state.forget_before_image(kind, pd_id)  # a matched person's old copy
                forgotten.append(k)
                deleted[kind] += 1
        self.state.purge_patient_data(forgotten)
        result = {"patients": len(patient_ids) - len(not_found), "deleted": dict(deleted),
                  "not_found": not_found}  # fmt: skip
        self.state.finish_run(self.run_id, "done", {"deleted": dict(deleted)})
        self.forgotten_keys = forgotten
        return result

    async def _write_delete(self, kind: str, key: str, pd_id: int, path: str) -> None:
        try:
            ok = await self.pd.delete(kind, pd_id)
            self.state.audit(
                self.run_id,
                "DELETE",
                path,
                kind,
                key,
                pd_id,
                "ok" if ok else "already gone",
                token_cost("DELETE", "/api" + path),
            )
        except Exception as exc:
            self.state.audit(self.run_id, "DELETE", path, kind, key, pd_id, f"error: {exc}", 0)
            raise


IGNORED = {"update_time", "next_cursor"}


#: Fields a before-image puts back (Pipedrive lets marketing_status change only once, so the
#: migration never changes it on a record it did not create).
RESTORED = ("name", "owner_id", "org_id", "phones", "visible_to", "label_ids", "subject",
            "done", "due_date", "due_time", "duration", "note", "title", "value", "stage_id",
            "status", "person_id", "content", "address")  # fmt: skip


def restore_body(before: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The PATCH that turns ``current`` back into ``before``: changed fields only.

    Custom fields the migration filled on a record that had none are cleared (set to null).
    """
    body = {k: before.get(k) for k in RESTORED if k in before and before.get(k) != current.get(k)}
    was = before.get("custom_fields") or {}
    custom = {
        k: was.get(k) for k, v in (current.get("custom_fields") or {}).items() if was.get(k) != v
    }
    if custom:
        body["custom_fields"] = custom
    return body


def pick_covering(patients: list[str], features: dict[str, set[str]], size: int) -> set[str]:
    """Greedy set cover: each pick adds the most hard cases not yet covered (earliest on ties),
    then the richest remaining patients fill the sample up to ``size``."""
    position = {pid: i for i, pid in enumerate(patients)}
    chosen: list[str] = []
    taken: set[str] = set()
    uncovered = set().union(*(features.get(p, set()) for p in patients))
    while uncovered and len(chosen) < size:
        best = max(
            (p for p in patients if p not in taken and features.get(p, set()) & uncovered),
            key=lambda p: (len(features[p] & uncovered), -position[p]),
            default=None,
        )
        if best is None:
            break
        chosen.append(best)
        taken.add(best)
        uncovered -= features[best]
    for pid in sorted(patients, key=lambda p: (-len(features.get(p, set())), position[p])):
        if len(chosen) >= size:
            break
        if pid not in taken:
            chosen.append(pid)
            taken.add(pid)
    return set(chosen)


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in IGNORED}
    if isinstance(out.get("custom_fields"), dict):  # a null custom field is an empty one
        out["custom_fields"] = {k: v for k, v in out["custom_fields"].items() if v is not None}
    return out


def compare_accounts(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Differences between two account snapshots, ignoring update times."""
    out: list[str] = []
    for kind in sorted(set(before) | set(after)):
        b = {r.get("id", r.get("field_code")): _comparable(r) for r in before.get(kind, [])}
        a = {r.get("id", r.get("field_code")): _comparable(r) for r in after.get(kind, [])}
        for rid in sorted(set(b) | set(a), key=str):
            if rid not in a:
                out.append(f"{kind} {rid}: missing after rollback")
            elif rid not in b:
                out.append(f"{kind} {rid}: still present after rollback")
            elif a[rid] != b[rid]:
                changed = sorted(
                    k for k in set(a[rid]) | set(b[rid]) if a[rid].get(k) != b[rid].get(k)
                )
                out.append(f"{kind} {rid}: differs in {', '.join(changed)}")
    return out


__all__ = [
    "DeltaSummary",
    "LoadSummary",
    "Migration",
    "NothingToFollow",
    "compare_accounts",
]
