"""Turn export rows into Pipedrive payloads, following the confirmed workbook.

Pure: it reads rows, the workbook and the resolved setup (field keys, stages, users) and
returns payloads plus the problems met on the way. No request is sent from here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flitstack.mapping.known import LOCATION_TYPE_FIELD, SOURCE_ID_FIELD
from flitstack.mapping.protection import apply_protection, withheld_columns, withheld_kinds
from flitstack.mapping.workbook import ColumnMap, Workbook
from flitstack.settings import Settings
from flitstack.source.reader import Row, month_first
from flitstack.source.schema import FILES, role
from flitstack.transform import Outcome, TransformContext, apply
from flitstack.transform.notes import note_to_html
from flitstack.transform.registry import DATE_TRANSFORMS, PIPEDRIVE_LIMITS

LEDGER_AMOUNT = role("ledger_entries", "amount")
LEDGER_TYPE = role("ledger_entries", "entry_type")
LEDGER_DATE = role("ledger_entries", "entry_date")

#: Fields the engine itself needs besides the workbook's: (target, name, type, options).
ENGINE_FIELDS: list[tuple[str, str, str, list[str]]] = [
    ("person", SOURCE_ID_FIELD, "varchar", []),
    ("organization", SOURCE_ID_FIELD, "varchar", []),
    ("deal", SOURCE_ID_FIELD, "varchar", []),
    ("organization", LOCATION_TYPE_FIELD, "enum",
     ["Practice Location", "Insurance Carrier", "Dental Lab", "Referral Practice"]),
    ("person", "secondary_insurance__c", "org", []),
    ("person", "tertiary_insurance__c", "org", []),
    ("person", "last_payment_amount__c", "monetary", []),
    ("person", "needs_review__c", "varchar", []),
]  # fmt: skip

#: patients never subscribed to marketing, whatever their opt-in says
NEVER_SUBSCRIBED = frozenset({"deceased", "deleted", "archived"})


@dataclass
class Problem:
    file: str
    source_id: str
    line: int
    field: str
    outcome: str  # flagged | rejected | skipped
    reason: str


@dataclass
class Setup:
    """What setup resolved: field keys and options, pipelines, stages, users."""

    fields: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    stages: dict[tuple[str, str], int] = field(default_factory=dict)
    pipelines: dict[str, int] = field(default_factory=dict)
    provider_users: dict[str, int] = field(default_factory=dict)
    fallback_user: int = 0
    activity_types: set[str] = field(default_factory=set)

    def key(self, target: str, name: str) -> str:
        return str(self.fields[(target, name)]["key"])

    def name_of(self, field_key: str) -> str:
        """The field name behind a 40-character hash key (the key itself if unknown)."""
        for (_, name), spec in self.fields.items():
            if spec["key"] == field_key:
                return name
        return field_key


def role_order(file: str, key: str) -> tuple[int, str]:
    """Where a role stands in the MDC format's layout (columns it does not know come last,
    by name)."""
    spec = FILES.get(file)
    names = spec.column_names if spec else ()
    return (names.index(key), "") if key in names else (len(names), key)


def row_hash(row: Row) -> str:
    return hashlib.sha256(json.dumps(row.raw, sort_keys=True).encode()).hexdigest()[:20]


def joined_address(row: Row, columns: list[str]) -> str:
    """Address parts in order, from the parsed values: "NULL", "none" and blanks are left out."""
    return ", ".join(
        str(v).strip() for c in columns if (v := row.values.get(c)) is not None and str(v).strip()
    )


def norm_name(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.casefold()).strip()


class Builder:
    """Payload builders for each Pipedrive object, by the workbook's column roles."""

    def __init__(self, wb: Workbook, settings: Settings, setup: Setup) -> None:
        # a withheld category's columns are not mapped (their decision is their reason)
        self.wb, self.settings, self.setup = apply_protection(wb), settings, setup
        #: object kinds whose rows the practice withholds whole → why
        self.withheld_kinds = withheld_kinds(wb.protection)
        self._withheld_columns = withheld_columns(wb.protection)
        #: flagged values: kept here, or handed to ``sink`` as they come (a long run keeps
        #: none in memory); ``flagged`` counts them either way
        self.problems: list[Problem] = []
        self.sink: Callable[[Problem], None] | None = None
        self.flagged = 0
        #: the day the export was taken: two-digit years and birth dates are judged against it
        self.reference_date: date | None = None
        #: the export writes slash dates day first (the confirmed map's ``date_order``)
        self.day_first = wb.date_order == "day-first"
        self.providers: dict[str, Row] = {}
        self.locations: dict[str, Row] = {}

    def flag(self, problem: Problem) -> None:
        self.flagged += 1
        if self.sink is not None:
            self.sink(problem)
        else:
            self.problems.append(problem)

    def withholds(self, file: str, column_role: str) -> bool:
        """True when the practice withholds this column's category (a title or a label built
        from it leaves it out)."""
        return (file, column_role) in self._withheld_columns

    # --- column helpers --------------------------------------------------------------------
    def cols(self, file: str, **match: Any) -> list[ColumnMap]:
        """Mapped columns of a file in the MDC format's column order (never the export's own
        header order, so a reordered export builds the very same records)."""
        out = []
        for c in self.wb.for_file(file):
            if not c.migrate:
                continue
            if all(getattr(c, k) == v for k, v in match.items()):
                out.append(c)
        return sorted(out, key=lambda c: role_order(file, c.key))

    def col(self, file: str, field_role: str) -> ColumnMap | None:
        found = self.cols(file, field=field_role)
        return found[0] if found else None

    def raw(self, row: Row, file: str, field_role: str) -> str | None:
        c = self.col(file, field_role)
        return row.raw.get(c.key) if c else None

    def as_read(self, file: str, key: str, transform: str, raw: Any) -> Any:
        """A cell as its transform reads it: a date of an export that writes them day first
        turned month first, as MDC writes them, where the reader has not done so already (a
        column the MDC format does not type as a date, a property value of a date property)."""
        if not self.day_first or transform not in DATE_TRANSFORMS or not isinstance(raw, str):
            return raw
        return month_first(file, key, raw)

    def tx(self, c: ColumnMap, row: Row, file: str, sid: str) -> Outcome:
        options = dict(c.options)
        if c.custom is not None and c.custom.options:
            options["options"] = c.custom.options
        limit = PIPEDRIVE_LIMITS.get(c.custom.field_type) if c.custom else None
        ctx = TransformContext(
            settings=self.settings,
            options=options,
            field_limit=limit,
            reference_date=self.reference_date,
        )
        out = apply(c.transform, self.as_read(file, c.key, c.transform, row.raw.get(c.key)), ctx)
        if not out.ok:
            self.flag(
                Problem(file, sid, row.line, c.column, "flagged", f"{out.reason}; left empty")
            )
        elif out.flags:
            said = ", ".join(out.flags) + (f": {out.reason}" if out.reason else "")
            self.flag(Problem(file, sid, row.line, c.column, "flagged", said))
        return out

    def fit(self, text: str, limit: int, file: str, row: Row, column: str) -> str:
        """``text`` cut to a Pipedrive field's ``limit``, flagged with the original length."""
        if len(text) <= limit:
            return text
        reason = f"truncated: cut from {len(text)} to {limit} characters"
        self.flag(Problem(file, row.source_id or "", row.line, column, "flagged", reason))
        return text[:limit]

    def custom_value(self, target: str, name: str, value: Any) -> Any:
        """A transformed value in the form the field type takes (enum → option id)."""
        spec = self.setup.fields.get((target, name))
        if spec is None or value is None:
            return None
        ftype = spec["type"]
        if ftype == "enum":
            return spec["options"].get(str(value).casefold())
        if ftype == "double":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
        if ftype == "monetary":
            if isinstance(value, dict):
                return value
            return {"value": float(value), "currency": self.settings.currency}
        if ftype in {"org", "people", "user"}:
            return int(value)
        return str(value) if not isinstance(value, str) else value

    def put_custom(self, body: dict[str, Any], target: str, name: str, value: Any) -> None:
        converted = self.custom_value(target, name, value)
        if converted is not None:
            body.setdefault("custom_fields", {})[self.setup.key(target, name)] = converted

    def owner(self, provider_id: str | None) -> int:
        if provider_id and provider_id.strip() in self.setup.provider_users:
            return self.setup.provider_users[provider_id.strip()]
        return self.setup.fallback_user

    def owner_of(self, file: str, row: Row, sid: str, column: str | None) -> int:
        """The user a row's provider column makes its record's owner; a provider the export
        does not hold is flagged (its record goes to the fallback user). A provider of the
        export without a user is not: provider-resolution.csv lists those."""
        provider = str(row.raw.get(column) or "").strip() if column else ""
        if provider and self.providers and provider not in self.providers:
            why = f"provider {provider} is not in the export: owned by the fallback user"
            self.flag(Problem(file, sid, row.line, column or "", "flagged", why))
        return self.owner(provider)

    def provider_name(self, provider_id: str | None) -> str | None:
        row = self.providers.get((provider_id or "").strip())
        if row is None:
            return None
        return " ".join(
            str(row.raw.get(k) or "").strip()
            for k in (role("providers", "first_name"), role("providers", "last_name"))
        ).strip()

    def location_name(self, location_id: str | None) -> str | None:
        row = self.locations.get((location_id or "").strip())
        return str(row.raw.get(role("locations", "name")) or "").strip() or None if row else None

    def generic_customs(
        self, body: dict[str, Any], file: str, row: Row, sid: str, target: str
    ) -> None:
        """Every column mapped to a plain custom field of ``target``."""
        for c in self.cols(file, target=target):
            if c.custom is None or c.field is not None:
                continue
            if c.options.get("ordinal") or c.options.get("item"):
                continue
            if c.transform == "provider_name":
                value: Any = self.provider_name(row.raw.get(c.key))
            elif c.transform == "location_name":
                value = self.location_name(row.raw.get(c.key))
            else:
                out = self.tx(c, row, file, sid)
                value = out.value if out.ok else None
            if isinstance(value, str) and c.custom.field_type == "enum":
                value = value.strip()
            self.put_custom(body, target, c.custom.name, value)

    # --- organizations -----------------------------------------------------------------------
    def organization(
        self, file: str, row: Row, name: str, org_type: str, key: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "owner_id": self.setup.fallback_user}
        parts = sorted(self.cols(file, field="address"), key=lambda c: c.options.get("part", 0))
        address = joined_address(row, [c.key for c in parts])
        if address:
            body["address"] = {"value": address}
        self.generic_customs(body, file, row, key, "organization")
        self.put_custom(body, "organization", LOCATION_TYPE_FIELD, org_type)
        self.put_custom(body, "organization", SOURCE_ID_FIELD, key)
        return body

    # --- persons -----------------------------------------------------------------------------
    def person(self, row: Row, key: str, extras: dict[str, Any]) -> dict[str, Any]:
        file, sid = "patients", row.source_id or ""
        names = sorted(self.cols(file, field="name"), key=lambda c: c.options.get("part", 0))
        parts = [self.tx(c, row, file, sid).value for c in names]
        name = " ".join(p for p in parts if p) or f"Patient {sid}"
        body: dict[str, Any] = {"name": name}
        emails: list[dict[str, Any]] = []
        for c in self.cols(file, field="emails"):
            out = self.tx(c, row, file, sid)
            if out.ok and out.value:
                emails.append({"value": out.value, "primary": not emails, "label": "home"})
        if not emails:
            reason = "no valid e-mail: left empty, flagged for manual review"
            column = next((c.column for c in self.cols(file, field="emails")), "")
            self.flag(Problem(file, sid, row.line, column, "flagged", reason))
            self.put_custom(body, "person", "needs_review__c", "missing or invalid e-mail")
        body["emails"] = emails
        phones: list[dict[str, Any]] = []
        for c in sorted(
            self.cols(file, field="phones"), key=lambda c: not c.options.get("primary")
        ):
            out = self.tx(c, row, file, sid)
            if out.ok and out.value:
                label = str(c.options.get("label") or "other")
                phones.append({"value": out.value, "primary": not phones, "label": label})
        body["phones"] = phones
        owner_col = self.col(file, "owner_id")
        body["owner_id"] = self.owner_of(file, row, sid, owner_col.key if owner_col else None)
        added = self.col(file, "add_time")
        if added is not None:
            out = self.tx(added, row, file, sid)
            if out.ok and out.value:
                body["add_time"] = out.value.replace(" ", "T") + "Z"
        address_parts = sorted(
            self.cols(file, field="address_text"), key=lambda c: c.options.get("part", 0)
        )
        address = joined_address(row, [c.key for c in address_parts])
        if address_parts and address and address_parts[0].custom is not None:
            self.put_custom(
                body, "person", address_parts[0].custom.name,
                self.fit(address, PIPEDRIVE_LIMITS["address"], file, row, address_parts[0].column),
            )  # fmt: skip
        self.generic_customs(body, file, row, sid, "person")
        for c in self.cols(file, transform="bool_yes_no"):
            if c.options.get("marketing_status"):
                out = self.tx(c, row, file, sid)
                if out.ok and out.value:
                    consent = out.value == "Yes"
                    if consent and not emails:
                        reason = "marketing consent without a valid e-mail: set to no_consent"
                        self.flag(Problem(file, sid, row.line, c.column, "flagged", reason))
                        consent = False
                    status = self.status_of(row, file)
                    if consent and status in NEVER_SUBSCRIBED:
                        reason = f"marketing consent of a {status} patient: set to no_consent"
                        self.flag(Problem(file, sid, row.line, c.column, "flagged", reason))
                        consent = False
                    body["marketing_status"] = "subscribed" if consent else "no_consent"
        for (target, name), value in extras.pop("custom", {}).items():
            self.put_custom(body, target, name, value)
        body.update(extras)
        self.put_custom(body, "person", SOURCE_ID_FIELD, key)
        return body

    @staticmethod
    def status_of(row: Row, file: str) -> str:
        """The row's status, case-folded ("" for a file without one)."""
        try:
            return str(row.values.get(role(file, "status")) or "").casefold()
        except KeyError:
            return ""

    def insurance_extras(self, rows: list[Row], org_ids: dict[str, int]) -> dict[str, Any]:
        """Primary coverage → org_id + its custom fields; others → org-link custom fields."""
        extras: dict[str, Any] = {"custom": {}}
        by_ordinal: dict[int, Row] = {}
        for r in rows:
            try:
                ordinal = int(
                    str(r.raw.get(self._col_name("patient_insurance", "insurance_ordinal")) or 1)
                )
            except ValueError:
                ordinal = 1
            by_ordinal.setdefault(ordinal, r)
        carrier_col = self._col_name("patient_insurance", "insurance_org")
        for ordinal, r in sorted(by_ordinal.items()):
            org = org_ids.get(str(r.raw.get(carrier_col) or "").strip())
            if org is None:
                continue
            if ordinal == 1:
                extras["org_id"] = org
                for c in self.cols("patient_insurance"):
                    if c.custom is not None and c.options.get("ordinal") == 1:
                        out = self.tx(c, r, "patient_insurance", r.source_id or "")
                        if out.ok and out.value is not None:
                            extras["custom"][("person", c.custom.name)] = out.value
            elif ordinal in (2, 3):
                name = "secondary_insurance__c" if ordinal == 2 else "tertiary_insurance__c"
                extras["custom"][("person", name)] = org
        return extras

    def _col_name(self, file: str, role: str) -> str:
        c = self.col(file, role)
        return c.key if c else role

    def recall_extras(self, rows: list[Row]) -> tuple[dict[tuple[str, str], Any], Row | None]:
        """Many recalls → the next due one's fields; and the row of the last recall visit."""
        custom: dict[tuple[str, str], Any] = {}
        disabled_col = self._col_name("recalls", "recall_disabled")
        active = [
            r
            for r in rows
            if str(r.raw.get(disabled_col) or "").strip().upper() not in {"Y", "YES", "TRUE", "1"}
        ]
        due_col = next(
            (c for c in self.cols("recalls") if c.custom and "next" in c.custom.name), None
        )
        last_col = self._col_name("recalls", "recall_task")

        def due(r: Row) -> str:
            if due_col is None:
                return "9999"
            out = apply("date", r.raw.get(due_col.key), TransformContext())
            return str(out.value or "9999")

        if active:
            nxt = min(active, key=due)
            for c in self.cols("recalls"):
                if c.custom is not None:
                    out = self.tx(c, nxt, "recalls", nxt.source_id or "")
                    if out.ok and out.value is not None:
                        custom[("person", c.custom.name)] = out.value
        last = None
        best = ""
        for r in rows:
            d = apply("date", r.raw.get(last_col), TransformContext()).value
            if d and d > best:
                best, last = d, r
        return custom, last

    def ledger_extras(self, rows: list[Row]) -> dict[tuple[str, str], Any]:
        balance = 0.0
        last_payment: tuple[str, float] | None = None
        for r in rows:
            amount = apply("money_value", r.raw.get(LEDGER_AMOUNT), TransformContext()).value
            if amount is None:
                continue
            kind = str(r.values.get(LEDGER_TYPE) or "")
            day = apply("date", r.raw.get(LEDGER_DATE), TransformContext()).value
            if kind in {"Charge", "Refund"}:
                balance += abs(amount)
            else:
                balance -= abs(amount)
            # a payment without a readable day counts in the balance, never as the last one
            if (
                kind in {"Payment", "InsurancePayment"}
                and day
                and (last_payment is None or day >= last_payment[0])
            ):
                last_payment = (day, abs(amount))
        out: dict[tuple[str, str], Any] = {("person", "outstanding_balance__c"): round(balance, 2)}
        if last_payment:
            out[("person", "last_payment_date__c")] = last_payment[0]
            out[("person", "last_payment_amount__c")] = last_payment[1]
        return out

    # --- activities --------------------------------------------------------------------------
    def value_map(self, name: str, value: Any) -> str | None:
        vm = self.wb.value_map(name)
        if vm is None or value is None:
            return None
        return vm.values.get(str(value))

    def appointment(self, row: Row, person_id: int, marker: str) -> dict[str, Any]:
        file, sid = "appointments", row.source_id or ""
        kind = row.values.get(role(file, "appointment_type")) or "Scheduled"
        status = row.values.get(role(file, "status")) or "Scheduled"
        activity_type = self.value_map("appointment_type", kind) or "meeting"
        if activity_type not in self.setup.activity_types:
            activity_type = "meeting"
        subject = f"{kind} appointment"
        if status not in {"Scheduled", "Completed"}:
            subject += f" ({status})"
        body: dict[str, Any] = {
            "subject": subject,
            "type": activity_type,
            "person_id": person_id,
            "done": self.value_map("appointment_status", status) == "done",
            "owner_id": self.owner_of(file, row, sid, self._col_name(file, "owner_id")),
        }
        due = self.col(file, "due")
        if due is not None:
            out = self.tx(due, row, file, sid)
            if out.ok and out.value:
                body.update(out.value)
        dur = self.col(file, "duration")
        if dur is not None:
            out = self.tx(dur, row, file, sid)
            if out.ok and out.value:
                body["duration"] = out.value
        loc = self.location_name(row.raw.get(self._col_name(file, "location")))
        if loc:
            body["location"] = {"value": loc}
        lines = []
        for c in self.cols(file, field="note_line"):
            label = c.options.get("label") or c.key
            if c.transform == "provider_name":
                value = self.provider_name(row.raw.get(c.key))
            else:
                value = self.tx(c, row, file, sid).value
            if value:
                lines.append(f"{label}: {value}")
        note_col = self.col(file, "note")
        note = self.tx(note_col, row, file, sid).value if note_col else None
        body["note"] = _with_marker(note, lines, marker)
        return body

    def recall_task(self, row: Row, person_id: int, owner: int, marker: str) -> dict[str, Any]:
        kind = row.values.get(role("recalls", "recall_type")) or "Recall"
        day = apply(
            "date", row.raw.get(self._col_name("recalls", "recall_task")), TransformContext()
        ).value
        return {
            "subject": f"[Recall] {kind} visit",
            "type": "task",
            "person_id": person_id,
            "owner_id": owner,
            "due_date": day,
            "done": True,
            "note": _with_marker(None, ["Recall flag: yes", f"Recall type: {kind}"], marker),
        }

    # --- deals -------------------------------------------------------------------------------
    def deal(
        self, file: str, row: Row, key: str, person_id: int | None, org_id: int | None,
        status_map: str, outcome_map: str, pipeline: str, title: str,
    ) -> dict[str, Any]:  # fmt: skip
        sid = row.source_id or ""
        status = row.values.get(role(file, "status"))
        stage = self.value_map(status_map, status) or self.wb.pipelines[0].stages[0]
        body: dict[str, Any] = {"title": self.fit(title, PIPEDRIVE_LIMITS["title"], file, row, "")}
        stage_id = self.setup.stages.get((pipeline, stage))
        if stage_id is None:
            stage_id = next(v for (p, _), v in self.setup.stages.items() if p == pipeline)
        body["stage_id"] = stage_id
        body["pipeline_id"] = self.setup.pipelines[pipeline]
        body["status"] = self.value_map(outcome_map, status) or "open"
        if person_id:
            body["person_id"] = person_id
        if org_id:
            body["org_id"] = org_id
        body["owner_id"] = self.owner_of(file, row, sid, self._col_name(file, "owner_id"))
        value_col = self.col(file, "value")
        if value_col is not None:
            out = self.tx(value_col, row, file, sid)
            if out.ok and out.value:
                body["value"] = out.value["value"]
                body["currency"] = out.value["currency"]
        added = self.col(file, "add_time")
        if added is not None:
            out = self.tx(added, row, file, sid)
            if out.ok and out.value:
                body["add_time"] = out.value.replace(" ", "T") + "Z"
        close = self.col(file, "expected_close_date")
        if close is not None:
            out = self.tx(close, row, file, sid)
            if out.ok and out.value:
                body["expected_close_date"] = out.value
        self.generic_customs(body, file, row, sid, "deal")
        self.put_custom(body, "deal", SOURCE_ID_FIELD, key)
        return body

    def plan_items(self, rows: list[Row]) -> str | None:
        lines = []

        def prio(r: Row) -> int:
            priority = r.raw.get(role("treatment_plan_items", "priority"))
            return int(apply("int", priority, TransformContext()).value or 0)

        for r in sorted(rows, key=prio):
            parts = []
            for c in self.cols("treatment_plan_items"):
                if not c.options.get("item") or c.options.get("item") == "priority":
                    continue
                out = self.tx(c, r, "treatment_plan_items", r.source_id or "")
                if out.ok and out.value not in (None, ""):
                    value = out.value
                    if c.options["item"] == "tooth":
                        value = f"tooth {value}"
                    elif c.options["item"] == "fee":
                        value = f"{self.settings.currency} {value:,.2f}"
                    parts.append(str(value))
            if parts:
                lines.append(" · ".join(parts))
        return "\n".join(lines) or None

    def note_body(self, text: str | None, fmt: str | None, header: list[str], marker: str) -> str:
        html = note_to_html(text, fmt) if text else ""
        head = "<p><b>" + " · ".join(_esc(h) for h in header if h) + "</b></p>" if header else ""
        return head + html + f"<p>MDC ref: {_esc(marker)}</p>"


def _esc(text: str) -> str:
    import html

    return html.escape(str(text), quote=False)


def _with_marker(note: str | None, lines: list[str], marker: str) -> str:
    body = note or ""
    if lines:
        body += "<p>" + "<br>".join(_esc(line) for line in lines) + "</p>"
    return body + f"<p>MDC ref: {_esc(marker)}</p>"
