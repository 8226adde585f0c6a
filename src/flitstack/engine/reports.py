"""Reports of the engine's steps: setup (fields, pipelines, provider resolution) and delta.

Each is an offline HTML page plus CSV, owner-only, every value escaped by the templates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flitstack.engine.migration import DeltaSummary
from flitstack.engine.state import StateStore
from flitstack.reporting import write_csv, write_html, write_json, write_private

RESOLUTION_COLUMNS = ["provider", "name", "email", "user_id", "resolution"]


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
         "made": "created" if created else "reused (same name and type)"}
        for name, (code, data, created) in sorted(state.setup_items("field").items())
    ]  # fmt: skip
    pipelines = [
        {"pipeline": name, "id": pid, "made": "created" if created else "existing"}
        for name, (pid, _, created) in sorted(state.setup_items("pipeline").items())
    ]
    return {"fields": fields, "pipelines": pipelines}


def write_setup_report(outdir: Path, state: StateStore, resolution: list[dict[str, str]]) -> Path:
    """``setup.html`` + ``custom-fields.csv`` + ``provider-resolution.csv``."""
    facts = setup_facts(state)
    write_csv(
        outdir / "custom-fields.csv",
        ["field", "key", "target", "made"],
        ([f["field"], f["key"], f["target"], f["made"]] for f in facts["fields"]),
    )
    write_provider_resolution(outdir, resolution)
    fallback = [r for r in resolution if "fallback" in r["resolution"]]
    return write_html(
        outdir / "setup.html",
        "setup.html.j2",
        fields=facts["fields"],
        pipelines=facts["pipelines"],
        resolution=resolution,
        fallback=len(fallback),
    )


def write_delta_report(outdir: Path, delta: DeltaSummary, export: Path) -> Path:
    """``delta.html`` + ``delta.json`` + ``delta-disappeared.csv``."""
    data = delta.as_dict()
    write_json(outdir / "delta.json", data)
    write_csv(
        outdir / "delta-disappeared.csv",
        ["key", "object", "pipedrive_id", "why"],
        ([d["key"], d["object"], d["id"], d["why"]] for d in delta.disappeared),
    )
    return write_html(outdir / "delta.html", "delta.html.j2", delta=data, export=str(export))


def write_audit_log(state: StateStore, out: Path) -> int:
    """Every write the migration made, as CSV or (for a ``.jsonl`` name) JSON lines."""
    rows = state.audit_rows()
    if out.suffix == ".jsonl":
        write_private(out, "".join(json.dumps(r) + "\n" for r in rows))
    else:
        header = list(rows[0]) if rows else ["id"]
        write_csv(out, header, ([r[h] for h in header] for r in rows))
    return len(rows)
