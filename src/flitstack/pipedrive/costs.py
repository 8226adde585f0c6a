"""Token cost of each Pipedrive operation, from the specs' ``x-token-cost`` (package data).

Both the sandbox (to charge) and the client (to predict the daily budget) use this table.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

DEFAULT_COST = 10


@lru_cache(maxsize=1)
def _table() -> list[tuple[str, str, re.Pattern[str], int]]:
    raw = resources.files("flitstack").joinpath("data/pipedrive_costs.json").read_text()
    rows = []
    for r in json.loads(raw):
        pattern = re.sub(r"\\\{[^/]+?\\\}", r"[^/]+", re.escape(r["path"]))
        rows.append((r["version"], r["method"], re.compile(f"^{pattern}$"), int(r["cost"])))
    # Literal paths before templated ones: /persons/search must not match /persons/{id}.
    rows.sort(key=lambda t: t[2].pattern.count("[^/]+"))
    return rows


@lru_cache(maxsize=4096)
def token_cost(method: str, path: str) -> int:
    """Cost of ``GET /api/v2/persons/12`` (or ``/v2/persons/12``); unknown operations cost 10."""
    m = re.search(r"/(v1|v2)(/.*)$", path.split("?")[0])
    if m is None:
        return DEFAULT_COST
    version, rest = m.group(1), m.group(2).rstrip("/") or "/"
    for v, meth, pattern, cost in _table():
        if v == version and meth == method.upper() and pattern.match(rest):
            return cost
    return DEFAULT_COST
