"""What the audit learns about one column: the hand-off from audit to the map proposal.

A profile carries only aggregates and masked examples, never raw patient values, so it can be
written to reports and passed around freely.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ColumnProfile(BaseModel):
    """Aggregates of one column of one export file (known to the schema or not)."""

    file: str  # file stem, e.g. "patients"
    column: str  # header exactly as found in the export
    position: int = 0  # 0-based position of the column in the header
    known: bool  # the schema declares this file and column
    kind: str | None = None  # schema Kind value when known
    personal: bool = False  # masked in reports (from schema, or guessed for unknown columns)
    inferred_type: str = "empty"  # empty|id|int|decimal|money|boolean|date|datetime|email|
    #                               phone|enum|text|long_text|tooth|cdt|cdt_list|url
    rows: int = 0
    nulls: int = 0
    null_rate: float = 0.0
    #: distinct non-null values: exact up to the audit's CARDINALITY_CAP (5,000); beyond it
    #: (see :attr:`cardinality_how`) exact still for a column that never goes down (IDs in
    #: order), the cap for dates, times, amounts and long texts (counted no further), else a
    #: HyperLogLog estimate (standard error about 1.6 %)
    cardinality: int = 0
    cardinality_capped: bool = False  # True when distinct values exceeded the cap
    #: how :attr:`cardinality` was counted: "exact", "estimated", or "at least" (the cap)
    cardinality_how: Literal["exact", "estimated", "at least"] = "exact"
    max_length: int = 0
    #: share (0..1) of non-null values that look like each type, e.g. {"email": 0.98}
    type_votes: dict[str, float] = Field(default_factory=dict)
    #: most common values with counts, only for low-cardinality columns; masked if personal
    top_values: list[tuple[str, int]] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)  # masked if personal
    problems: dict[str, int] = Field(default_factory=dict)  # problem kind → count
    #: slash dates among the values sampled for the type that read only one way:
    #: "day-first" (25/03/2024) or "month-first" (03/25/2024) → how many
    date_orders: dict[str, int] = Field(default_factory=dict)

    @property
    def non_null(self) -> int:
        return self.rows - self.nulls
