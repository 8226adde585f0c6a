"""The confirmation gate: nothing moves until a person confirms this exact workbook.

A confirmation is stored next to the workbook (``<workbook>.confirmed.json``) with who, when
and the workbook's digest. Editing the workbook changes the digest and voids the confirmation.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from flitstack.errors import Refused
from flitstack.mapping.protection import accept_as_proposed, check_decisions, propose_protection
from flitstack.mapping.validate import load_valid_workbook
from flitstack.mapping.workbook import set_protection, workbook_digest
from flitstack.reporting import write_private
from flitstack.settings import Settings


class MapNotConfirmed(Refused):
    """Raised before any write to Pipedrive when the map has not been confirmed as it is now."""


class Confirmation(BaseModel):
    workbook: str
    digest: str
    confirmed_by: str
    confirmed_at: str
    review_items: int


def confirmation_path(workbook: Path) -> Path:
    return workbook.with_name(workbook.name + ".confirmed.json")


class ProtectionUndecided(Refused):
    """A category of health data has no decision (send or withhold) yet."""


def confirm_workbook(
    workbook: Path, who: str | None = None, *, protection_as_proposed: bool = False
) -> Confirmation:
    """Record that ``who`` confirmed the workbook as it is now (its digest).

    A workbook naming unknown transforms, targets, fields, options, stages or columns is refused
    with every problem listed (``WorkbookValidationError``) and nothing is written. So is one
    where a category of patient data has no decision (send or withhold), unless
    ``protection_as_proposed``: then every undecided category takes its profile's proposal, and
    the workbook records that ``who`` accepted them as proposed.
    """
    wb = load_valid_workbook(workbook)
    protection = wb.protection or propose_protection(
        Settings(region=str(wb.settings.get("region") or "US")).profile()
    )
    if protection_as_proposed and protection.undecided():
        protection = accept_as_proposed(protection, who or "")
        set_protection(workbook, protection)
        wb = load_valid_workbook(workbook)
    elif wb.protection is None:
        set_protection(workbook, protection)  # the proposals, for the person to decide
    problems = check_decisions(protection)
    if problems:
        raise ProtectionUndecided(f"{workbook}: " + "; ".join(problems))
    confirmation = Confirmation(
        workbook=str(workbook),
        digest=workbook_digest(wb),
        confirmed_by=who or getpass.getuser(),
        confirmed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        review_items=sum(1 for c in wb.columns if c.review),
    )
    write_private(confirmation_path(workbook), confirmation.model_dump_json(indent=2))
    return confirmation


def read_confirmation(workbook: Path) -> Confirmation | None:
    path = confirmation_path(workbook)
    if not path.exists():
        return None
    return Confirmation.model_validate(json.loads(path.read_text()))


def require_confirmed(workbook: Path) -> Confirmation:
    """The confirmation of the workbook as it is now, or MapNotConfirmed saying what to do."""
    if not workbook.exists():
        raise MapNotConfirmed(
            f"No mapping workbook at {workbook}. Run `flitstack map propose EXPORT` first, "
            "review it, then `flitstack map confirm`."
        )
    confirmation = read_confirmation(workbook)
    if confirmation is None:
        raise MapNotConfirmed(
            f"The field map {workbook} has not been confirmed. Review it, then run "
            f'`flitstack map confirm --by "Your Name"`. Nothing was written to Pipedrive.'
        )
    digest = workbook_digest(workbook)
    if digest != confirmation.digest:
        raise MapNotConfirmed(
            f"The field map {workbook} was edited after {confirmation.confirmed_by} confirmed it "
            f"on {confirmation.confirmed_at} (digest {confirmation.digest[:12]} ≠ now "
            f"{digest[:12]}). Review the changes and run `flitstack map confirm` again. "
            "Nothing was written to Pipedrive."
        )
    return confirmation
