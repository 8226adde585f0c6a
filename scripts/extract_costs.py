"""Extract every operation's ``x-token-cost`` from Pipedrive's OpenAPI specs into package data.

    python scripts/extract_costs.py ../shared/pipedrive-openapi src/flitstack/data/pipedrive_costs.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

METHODS = ("get", "post", "put", "patch", "delete")


def extract(spec_dir: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for version in ("v1", "v2"):
        spec = yaml.safe_load((spec_dir / f"pipedrive-{version}-openapi.yml").read_text())
        for path, item in spec["paths"].items():
            for method in METHODS:
                op = item.get(method)
                if op and "x-token-cost" in op:
                    rows.append(
                        {
                            "version": version,
                            "method": method.upper(),
                            "path": path,
                            "cost": int(op["x-token-cost"]),
                            "operation": op.get("operationId", ""),
                        }
                    )
    return rows


if __name__ == "__main__":
    rows = extract(Path(sys.argv[1]))
    Path(sys.argv[2]).write_text(json.dumps(rows, indent=0))
    print(f"{len(rows)} operations")
