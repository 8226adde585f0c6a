"""Search as Pipedrive scores it: name, emails, phones and searchable custom fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flitstack.sandbox.envelope import ApiError
from flitstack.sandbox.schema import custom_fields
from flitstack.sandbox.store import Store
from flitstack.sandbox.validation import as_int

SEARCHABLE_TYPES = {"varchar", "text", "varchar_auto", "double", "monetary", "phone", "address"}

#: The filters each search operation declares (v2 spec), as (query parameter, record key).
SEARCH_FILTERS: dict[str, tuple[tuple[str, str], ...]] = {
    "persons": (("organization_id", "org_id"),),
    "deals": (("person_id", "person_id"), ("organization_id", "org_id"), ("status", "status")),
    "organizations": (),
}
DEAL_SEARCH_STATUSES = ("open", "won", "lost")


def search_filter(
    store: Store, kind: str, params: Mapping[str, str]
) -> Callable[[dict[str, Any]], bool]:
    """Which records a search may return under its declared filters (``organization_id`` of
    persons; ``person_id``, ``organization_id`` and ``status`` of deals). A filter naming a
    record that does not exist finds nothing, as in Pipedrive; a malformed one is a 400."""
    wanted: dict[str, Any] = {}
    for param, key in SEARCH_FILTERS.get(kind, ()):
        raw = params.get(param)
        if raw is None or raw == "":
            continue
        if param == "status":
            if raw not in DEAL_SEARCH_STATUSES:
                raise ApiError(400, f"status must be one of {', '.join(DEAL_SEARCH_STATUSES)}")
            wanted[key] = raw
        else:
            wanted[key] = as_int(raw, param)
    return lambda rec: all(rec.get(k) == v for k, v in wanted.items())


def search(
    store: Store,
    kind: str,
    term: str,
    fields: set[str],
    exact: bool,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    needle = term.casefold().strip()
    if len(needle) < (1 if exact else 2):
        raise ApiError(400, "Search term must be at least 2 characters (1 with exact_match)")

    def hit(text: Any) -> float:
        if not isinstance(text, str) or not text:
            return 0.0
        value = text.casefold()
        if exact:
            return 1.0 if value == needle else 0.0
        return 1.0 if value == needle else (0.5 if needle in value else 0.0)

    searchable = {
        k for k, f in custom_fields(store, kind).items() if f["field_type"] in SEARCHABLE_TYPES
    }
    results = []
    for rec in store.all(kind):
        if keep is not None and not keep(rec):
            continue
        score = 0.0
        name_key = "title" if kind == "deals" else "name"
        if not fields or "name" in fields or "title" in fields:
            score = max(score, hit(rec.get(name_key)))
        if kind == "persons" and (not fields or "email" in fields):
            score = max([score, *(hit(e["value"]) for e in rec.get("emails", []))])
        if kind == "persons" and (not fields or "phone" in fields):
            score = max([score, *(hit(p["value"]) for p in rec.get("phones", []))])
        if not fields or "custom_fields" in fields:
            for key, value in (rec.get("custom_fields") or {}).items():
                if key in searchable:
                    text = value.get("value") if isinstance(value, dict) else value
                    score = max(score, hit(None if text is None else str(text)))
        if score > 0:
            results.append((score, rec))
    results.sort(key=lambda t: (-t[0], t[1]["id"]))
    return [_search_item(store, kind, score, rec) for score, rec in results]


def _search_item(store: Store, kind: str, score: float, rec: dict[str, Any]) -> dict[str, Any]:
    custom = [
        str(v.get("value") if isinstance(v, dict) else v)
        for v in (rec.get("custom_fields") or {}).values()
        if v is not None
    ]
    item: dict[str, Any] = {
        "id": rec["id"],
        "type": kind[:-1] if kind != "activities" else "activity",
        "visible_to": rec.get("visible_to"),
        "owner": {"id": rec.get("owner_id")},
        "custom_fields": custom,
    }
    if kind == "deals":
        value = rec.get("value")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # the spec's search item value is an integer (JS prints 801)
        item.update(title=rec["title"], value=value, currency=rec.get("currency"))
        item["status"] = rec.get("status")
    else:
        item["name"] = rec["name"]
    if kind == "persons":
        item["emails"] = [e["value"] for e in rec.get("emails", [])]
        item["phones"] = [p["value"] for p in rec.get("phones", [])]
        org = rec.get("org_id") and store.get("organizations", rec["org_id"])
        item["organization"] = {"id": org["id"], "name": org["name"]} if org else None
    return {"result_score": score, "item": item}
