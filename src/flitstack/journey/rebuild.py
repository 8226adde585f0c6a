"""What cannot migrate, written as a guide to rebuild it: MDC automations and recall sequences.

Pipedrive's API cannot create Automations or Sequences, and MDC's rules speak of patients,
recalls and lab cases rather than deals and activities. Each rule is translated part by part
(trigger, each condition, each action) by patterns into its closest Pipedrive equivalent, and
anything without one is marked "needs a manual decision" with the reason, never guessed.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flitstack.mapping.propose import propose_bindings
from flitstack.mapping.roles import Bindings
from flitstack.mapping.workbook import Workbook
from flitstack.reporting import private_dir, write_csv, write_html
from flitstack.source.reader import BindingSource, Row, open_export
from flitstack.source.schema import role

MANUAL = "needs a manual decision"

#: (pattern on the MDC trigger, Pipedrive trigger, or None with why it has none)
TRIGGERS: list[tuple[str, str | None, str]] = [
    (
        r"recall.*due",
        "Automation, date trigger on the Person field “Next recall due” (or a "
        "Sequence started from the migrated recall task)",
        "",
    ),
    (
        r"appointment (is )?scheduled|appointment (is )?booked",
        "Automation, trigger “Activity created” filtered on the appointment activity types",
        "",
    ),
    (
        r"appointment status changed to (\w+)",
        "Automation, trigger “Activity updated” where the MDC status field becomes {0}",
        "",
    ),
    (
        r"treatment plan status = (\w+) for (\d+) days",
        "Automation, trigger “Deal updated” with the deal in stage {0}; use the stage's rotting "
        "time of {1} days (or a Sequence with a {1}-day wait)",
        "",
    ),
    (r"treatment plan", "Automation, trigger “Deal updated” in the Treatment plans pipeline", ""),
    (
        r"lab case due date passed|lab case overdue",
        "Automation, date trigger on the lab-case deal's expected close date (due date)",
        "",
    ),
    (
        r"completed procedure",
        "Automation, trigger “Activity marked as done”, condition on the "
        "activity note containing the procedure codes",
        "",
    ),
    (
        r"birthday",
        None,
        "Pipedrive has no birthday trigger; a yearly Campaigns segment on the "
        "date-of-birth field, or a marketing tool, has to decide",
    ),
    (
        r"monthly|weekly|daily|every ",
        None,
        "Pipedrive automations are event-driven, not "
        "scheduled; a recurring job outside Pipedrive has to decide",
    ),
]

#: (pattern on one MDC action, Pipedrive action, or None with why)
ACTIONS: list[tuple[str, str | None, str]] = [
    (
        r"send e-?mail(?: template)? '([^']+)'",
        "Send email (recreate the template “{0}” in Pipedrive)",
        "",
    ),
    (r"send e-?mail", "Send email (recreate the template in Pipedrive)", ""),
    (
        r"create call task(?: to| for)? ?([\w ]*?)( next business day| in \d+ days?)?$",
        "Create activity (type Call) — {0} {1}",
        "",
    ),
    (
        r"create task for ([\w ]+?)( next business day| in \d+ days?)?$",
        "Create activity (type Task) assigned to the {0} user, due {1}",
        "",
    ),
    (r"notify provider", "Create activity assigned to the provider's Pipedrive user", ""),
    (
        r"send sms",
        None,
        "Pipedrive has no SMS action; an SMS integration from the "
        "Marketplace (and the patients' consent) has to decide",
    ),
    (r"mark confirmed on reply", None, "replies to SMS cannot update Pipedrive natively"),
    (r"print|mail statement|statement", None, "billing statements stay in the billing system"),
]

#: MDC condition words → Pipedrive filter wording
CONDITIONS: list[tuple[str, str]] = [
    (r"patient status = (\w+)", "Person field “Patient status” is {0}"),
    (r"e-?mail present", "Person email is not empty"),
    (r"marketingoptin = y", "Person marketing status is Subscribed"),
    (r"totalfee > ([\d.]+)", "Deal value is greater than {0}"),
    (r"status = (\w+)", "Deal stage is {0}"),
    (r"appointment type in \(([^)]*)\)", "Activity type is one of {0}"),
    (r"outstanding balance > ([\d.]+)", "Person field “Balance” is greater than {0}"),
]


@dataclass
class RuleGuide:
    """One MDC rule and how to rebuild it."""

    rule_id: str
    name: str
    active: bool
    trigger: str
    conditions: list[str]
    actions: list[str]
    pipedrive_trigger: str
    pipedrive_conditions: list[str]
    pipedrive_actions: list[str]
    verdict: str
    notes: str = ""


@dataclass
class RecallSequence:
    """A recall type as the practice uses it, and the Pipedrive Sequence that replaces it."""

    recall_type: str
    patients: int
    active: int
    disabled: int
    intervals: dict[str, int] = field(default_factory=dict)
    suggestion: str = ""


@dataclass
class RebuildReference:
    export: str
    rules: list[RuleGuide]
    recalls: list[RecallSequence]

    def counts(self) -> dict[str, int]:
        verdicts = Counter(
            "manual" if r.verdict.startswith(MANUAL) else "rebuild" for r in self.rules
        )
        return {"rules": len(self.rules), "rebuild": verdicts["rebuild"],
                "manual": verdicts["manual"], "recall_types": len(self.recalls)}  # fmt: skip


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(";") if p.strip()]


def _fill(template: str, match: re.Match[str]) -> str:
    groups = [(g or "").strip() for g in match.groups()] + [""] * 3
    text = template.format(*groups)
    text = re.sub(r",\s*due\s*$", "", text.strip())
    return re.sub(r"\s+", " ", text).strip(" —")


def _translate(text: str, table: list[tuple[str, str | None, str]]) -> tuple[str | None, str]:
    for pattern, target, why in table:
        found = re.search(pattern, text, flags=re.IGNORECASE)
        if found:
            return (None, why) if target is None else (_fill(target, found), "")
    return None, "no Pipedrive equivalent is known for this"


def _condition(text: str) -> str:
    for pattern, target in CONDITIONS:
        found = re.search(pattern, text, flags=re.IGNORECASE)
        if found:
            return target.format(*[(g or "").strip() for g in found.groups()])
    return f"{MANUAL}: “{text}” has no matching Pipedrive filter"


def guide_rule(values: dict[str, Any]) -> RuleGuide:
    """Translate one automations.csv row (keyed by role, as a row read through bindings)."""

    def get(name: str) -> Any:
        return values.get(role("automations", name))

    trigger = str(get("trigger") or "").strip()
    conditions = _split(get("conditions"))
    actions = _split(get("actions"))
    p_trigger, trigger_why = _translate(trigger, TRIGGERS)
    p_actions, reasons = [], []
    for action in actions:
        target, why = _translate(action, ACTIONS)
        p_actions.append(target or f"{MANUAL}: {why}")
        if target is None:
            reasons.append(f"“{action}”: {why}")
    p_conditions = [_condition(c) for c in conditions]
    reasons += [c.split(": ", 1)[1] for c in p_conditions if c.startswith(MANUAL)]
    active = str(get("is_active") or "").strip().upper() in {"Y", "YES", "TRUE", "1"}
    if p_trigger is None:
        verdict = f"{MANUAL}: {trigger_why or 'the trigger has no Pipedrive equivalent'}"
    elif reasons:
        verdict = f"{MANUAL} for part of it: " + "; ".join(reasons)
    else:
        recall = "Sequence" in p_trigger and "recall" in trigger.lower()
        kind = "Sequence" if recall else "Automation"
        verdict = f"rebuild as a Pipedrive {kind}"
    if not active:
        verdict += " (inactive in MDC: rebuild only if still wanted)"
    return RuleGuide(
        rule_id=str(get("rule_id") or ""), name=str(get("name") or ""),
        active=active, trigger=trigger, conditions=conditions, actions=actions,
        pipedrive_trigger=p_trigger or f"{MANUAL}: {trigger_why}",
        pipedrive_conditions=p_conditions, pipedrive_actions=p_actions, verdict=verdict,
        notes=str(get("notes") or ""),
    )  # fmt: skip


#: the files the reference reads
READS = ("automations", "recalls")


def build_reference(
    export: Path, bindings: BindingSource | None = None, *, workbook: Workbook | None = None
) -> RebuildReference:
    """Read automations and recalls from an export and translate them.

    Rows are read through ``bindings`` (default: those of ``workbook``, the project's map, else
    the map proposal of the two files read), so values are found by role whatever the headers.
    """
    if bindings is None:
        bindings = (
            Bindings.from_workbook(workbook)
            if workbook is not None
            else propose_bindings(export, READS)
        )
    rules: list[RuleGuide] = []
    by_type: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"patients": set(), "active": 0, "disabled": 0, "intervals": Counter()}
    )
    recall_type, patient, disabled, interval = (
        role("recalls", name)
        for name in ("recall_type", "patient_id", "is_disabled", "interval_months")
    )
    with open_export(export, bindings) as source:
        for item in source.read("automations"):
            if isinstance(item, Row):
                rules.append(guide_rule(item.values))
        for item in source.read("recalls"):
            if not isinstance(item, Row):
                continue
            kind = str(item.values.get(recall_type) or "Unspecified")
            entry = by_type[kind]
            entry["patients"].add(str(item.values.get(patient) or ""))
            entry["disabled" if item.values.get(disabled) else "active"] += 1
            months = item.values.get(interval)
            entry["intervals"][f"{months} months" if months else "no interval"] += 1
    recalls = [
        RecallSequence(
            recall_type=kind,
            patients=len(e["patients"]),
            active=e["active"],
            disabled=e["disabled"],
            intervals=dict(e["intervals"].most_common()),
            suggestion=(
                f"Sequence “{kind} recall”: step 1 email at the due date (the migrated Person "
                f"field “Next recall due” and the recall Task carry it), step 2 call task 14 "
                f"days later if no appointment; repeat every "
                f"{e['intervals'].most_common(1)[0][0] if e['intervals'] else 'interval'}"
            ),
        )
        for kind, e in sorted(by_type.items())
    ]
    return RebuildReference(str(export), rules, recalls)


def write_reference(ref: RebuildReference, outdir: Path) -> tuple[Path, Path]:
    """``rebuild-reference.html`` and ``rebuild-reference.csv`` (one row per rule)."""
    private_dir(outdir)
    csv_path = write_csv(
        outdir / "rebuild-reference.csv",
        ["rule_id", "name", "active", "mdc_trigger", "mdc_conditions", "mdc_actions",
         "pipedrive_trigger", "pipedrive_conditions", "pipedrive_actions", "verdict"],
        ([r.rule_id, r.name, "yes" if r.active else "no", r.trigger, "; ".join(r.conditions),
          "; ".join(r.actions), r.pipedrive_trigger, "; ".join(r.pipedrive_conditions),
          "; ".join(r.pipedrive_actions), r.verdict] for r in ref.rules),
    )  # fmt: skip
    html = write_html(
        outdir / "rebuild-reference.html",
        "rebuild_reference.html.j2",
        ref=ref,
        rules=[asdict(r) for r in ref.rules],
        recalls=[asdict(r) for r in ref.recalls],
        counts=ref.counts(),
        manual=MANUAL,
    )
    return html, csv_path
