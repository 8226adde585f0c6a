"""One root for every error flitstack raises, grouped by what the person does next.

``FlitstackError``
  ``BadInput`` (exit 2): the export, the project file, the workbook or the token is wrong;
  the message names file, row and field. Fix it and run the same command.
  ``Refused`` (exit 3): a gate held (map not confirmed, sample not clean, nothing to follow).
  Nothing was written; do what the message says first.
  ``Paused`` (exit 4): Pipedrive's daily token budget is spent. Run the same command after the
  reset: it resumes where it stopped.
  ``StepFailed`` (exit 5): a step could not finish (Pipedrive answered an error, the connection
  dropped). It carries the step's name; running the same command resumes exactly once.

The command line has one handler for all of them: it prints the message and exits with the
error's code. Library callers catch the class that matches what they can do about it.
"""

from __future__ import annotations


class FlitstackError(Exception):
    exit_code = 1
    label = "error"


class BadInput(FlitstackError):
    exit_code = 2
    label = "error"


class Refused(FlitstackError):
    exit_code = 3
    label = "refused"


class Paused(FlitstackError):
    exit_code = 4
    label = "paused"


class StepFailed(FlitstackError):
    exit_code = 5
    label = "failed"

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
