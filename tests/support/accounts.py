"""Compare two Pipedrive accounts by content: ids and hash keys replaced by what they stand for."""

from __future__ import annotations

import json
import re
from typing import Any

_MARKER = re.compile(r"MDC ref: ([^<\s]+)")
_VOLATILE = {"id", "add_time", "update_time", "last_login", "modified", "next_cursor",
             "creator_user_id", "cc_email",
             "file_size", "remote_id", "url", "file_name", "created", "timestamp", "won_time",
             "lost_time", "close_time", "marked_as_done_time", "first_won_time"}  # fmt: skip
#: the MDC-ID field as Pipedrive names it (its label; the key on accounts set up before labels)
SOURCE_ID_NAMES = {"mdc_source_id__c", "MDC ID"}
_REFS = {"person_id": "persons", "org_id": "organizations", "deal_id": "deals"}


def _natural_keys(dump: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, int], str]:
    """Every record's id → a name that does not depend on the run (source key, marker, name)."""
    field_names = {
        f["field_code"]: f["field_name"]
        for target in ("person", "organization", "deal")
        for f in dump.get(f"{target}Fields", [])
    }
    out: dict[tuple[str, int], str] = {}
    for kind, records in dump.items():
        for r in records:
            if "id" not in r:
                continue
            custom = r.get("custom_fields") or {}
            source = next(
                (v for k, v in custom.items() if field_names.get(k) in SOURCE_ID_NAMES), None
            )
            text = str(r.get("note") or r.get("content") or "")
            marker = _MARKER.search(text)
            name = (
                source or (marker.group(1) if marker else None) or r.get("name") or r.get("title")
            )
            out[(kind, int(r["id"]))] = f"{kind}:{name}"
    return out


def content(dump: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    """The account as sorted lists of records with every id and hash key made run-independent."""
    keys = _natural_keys(dump)
    field_names = {
        f["field_code"]: f["field_name"]
        for target in ("person", "organization", "deal")
        for f in dump.get(f"{target}Fields", [])
    }
    option_labels = {
        (f["field_name"], o["id"]): o["label"]
        for target in ("person", "organization", "deal")
        for f in dump.get(f"{target}Fields", [])
        for o in f.get("options") or []
    }
    out: dict[str, list[Any]] = {}
    for kind, records in dump.items():
        rows = []
        for r in records:
            row: dict[str, Any] = {}
            for k, v in r.items():
                if k in _VOLATILE or k == "field_code":
                    continue
                if k in _REFS and isinstance(v, int):
                    v = keys.get((_REFS[k], v), v)
                elif k == "custom_fields" and isinstance(v, dict):
                    v = {
                        field_names.get(h, h): _custom(
                            field_names.get(h, h), x, keys, option_labels
                        )
                        for h, x in v.items()
                        if x is not None
                    }
                elif k == "participants" and isinstance(v, list):
                    v = [{**p, "person_id": keys.get(("persons", p.get("person_id")))} for p in v]
                elif k == "options" and isinstance(v, list):
                    v = sorted(o.get("label") for o in v if isinstance(o, dict))
                elif k in {"stage_id", "pipeline_id"}:
                    v = _stage_name(dump, k, v)
                row[k] = v
            rows.append(row)
        out[kind] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def _custom(name: str, value: Any, keys: dict[tuple[str, int], str], labels: dict[Any, Any]) -> Any:
    if isinstance(value, int) and (name, value) in labels:
        return labels[(name, value)]
    # org-link fields (secondary/tertiary insurance), by key or by the label staff read
    if name.endswith(("_insurance__c", " insurance")) and isinstance(value, int):
        return keys.get(("organizations", value), value)
    return value


def _stage_name(dump: dict[str, list[dict[str, Any]]], key: str, value: Any) -> Any:
    kind = "stages" if key == "stage_id" else "pipelines"
    for r in dump.get(kind, []):
        if r.get("id") == value:
            return r.get("name")
    return value
