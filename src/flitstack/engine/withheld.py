"""Proof that withheld means never sent: every value of a withheld category, read from the
source files, is looked for in the records read back from Pipedrive where it could have gone
(its own record, its patient's person, its plan's deal), and every withheld kind has no record
in the account. The figures come from the source and the account, not from what was sent.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flitstack.engine.staging import group_key
from flitstack.mapping.protection import BY_NAME, Protection
from flitstack.mapping.roles import Bindings
from flitstack.source.reader import Row, open_export
from flitstack.source.schema import FILES, parent_ref, role


@dataclass
class CategoryProof:
    category: str
    label: str
    decision: str
    values_checked: int = 0
    found: int = 0
    records_of_withheld_kinds: int = 0
    where: list[str] = field(default_factory=list)  # record keys (no patient values)

    @property
    def clean(self) -> bool:
        return self.decision != "withhold" or (
            self.found == 0 and self.records_of_withheld_kinds == 0
        )


def _probes(value: str) -> tuple[list[str], str]:
    """Words that must all be in a record for the value to be there, and its last 7 digits
    (phones and IDs are stored reformatted)."""
    text = value.strip()
    digits = re.sub(r"\D", "", text)
    words = sorted(set(re.findall(r"[^\W_]{4,}", html.escape(text, quote=False).casefold())),
                   key=len, reverse=True)  # fmt: skip
    if len(text) <= 40:
        return (
            [text.casefold()] if len(text) >= 4 else [],
            digits[-7:] if len(digits) >= 7 else "",
        )
    return (words[:3], "")


def _found(probe: tuple[list[str], str], record: dict[str, Any] | None) -> bool:
    if not record:
        return False
    text = json.dumps(record, ensure_ascii=False).casefold()
    words, digits = probe
    if digits and digits in re.sub(r"\D", "", text):
        return True
    return bool(words) and all(w in text for w in words)


def prove_withheld(
    export_path: Path,
    bindings: Bindings,
    protection: Protection | None,
    records: dict[str, dict[str, Any] | None],
) -> list[CategoryProof]:
    """One proof per category: for a withheld one, how many source values were looked for and
    how many were found in the account (must be 0)."""
    if protection is None:
        return []
    proofs = []
    with open_export(export_path, bindings) as export:
        for name, decision in protection.decisions.items():
            category = BY_NAME.get(name)
            if category is None:
                continue
            proof = CategoryProof(name, category.label, decision.decision or "undecided")
            proofs.append(proof)
            if decision.decision != "withhold":
                continue
            for kind in category.kinds:  # no record of the kind in the account
                marker = f"mdc[{kind} "  # how load.file_marker names a kind's files
                for key, record in records.items():
                    name_of = str((record or {}).get("name") or "")
                    if key.startswith(f"{kind}:") or name_of.startswith(marker):
                        proof.records_of_withheld_kinds += 1
                        proof.where.append(key)
            columns: dict[str, list[str]] = {}
            for file, snake in category.columns:
                columns.setdefault(file, []).append(role(file, snake))
            for kind in category.kinds:
                if kind in FILES:
                    columns.setdefault(kind, []).extend(
                        c.name for c in FILES[kind].columns if c.kind.name == "LONG_TEXT"
                    )
            for file, roles in columns.items():
                if not export.has(file):
                    continue
                parent = group_key(file)
                holder = "patients" if parent and parent == parent_ref(file) else "treatment_plans"
                for row in export.read(file):
                    if not isinstance(row, Row):
                        continue
                    owner = str(row.values.get(parent) or "").strip() if parent else ""
                    places = [f"{file}:{row.source_id}", f"{holder}:{owner}"]
                    if file == "patients":
                        places = places[:1]
                    for r in roles:
                        value = str(row.raw.get(r) or "").strip()
                        probe = _probes(value)
                        if not probe[0] and not probe[1]:
                            continue
                        proof.values_checked += 1
                        hit = next((p for p in places if _found(probe, records.get(p))), None)
                        if hit is not None:
                            proof.found += 1
                            if len(proof.where) < 20:
                                proof.where.append(f"{file}.{r} of {file}:{row.source_id} in {hit}")
    return proofs
