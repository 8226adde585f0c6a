"""Time the map proposal and its confirmation on a very wide export.

A practice's export can carry thousands of custom columns. The proposal (name and value
matching, transform trials) and the confirmation (validation, digest) must stay linear in the
number of columns: 10,000 columns should confirm in seconds. Prints the seconds for each step at
several widths and the growth factor between them (about 2x per doubling means linear).

    python bench/bench_confirm_wide.py                 # 1,250 … 10,000 extra columns
    python bench/bench_confirm_wide.py --widths 2000 20000
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from flitstack.mapping.confirm import confirm_workbook
from flitstack.mapping.propose import propose_map
from flitstack.mapping.workbook import load_workbook, save_workbook
from flitstack.settings import Settings
from flitstack.source.generator import MessRates, generate_export


def widen(export: Path, extra: int) -> None:
    """Give patients.csv ``extra`` more columns in a style of its own (``Custom Field 17``)."""
    path = export / "patients.csv"
    try:
        path.read_bytes().decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "cp1252"  # the generator writes some files as a Windows practice would
    with path.open(newline="", encoding=encoding) as fh:
        rows = list(csv.reader(fh))
    rows[0] += [f"Custom Field {i}" for i in range(extra)]
    for n, row in enumerate(rows[1:]):
        row += [f"v{(n * 7 + i) % 13}" if i % 3 else "" for i in range(extra)]
    with path.open("w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[1250, 2500, 5000, 10_000])
    parser.add_argument("--patients", type=int, default=20)
    args = parser.parse_args()
    settings = Settings(timezone="America/Chicago")
    previous: tuple[float, float] | None = None
    print(f"{'extra columns':>14} {'propose s':>10} {'save+load s':>12} {'confirm s':>10}  growth")
    for width in args.widths:
        with tempfile.TemporaryDirectory() as tmp:
            export = Path(tmp) / "export"
            generate_export(export, args.patients, seed=3, mess=MessRates.clean())
            widen(export, width)
            t0 = time.perf_counter()
            wb = propose_map(export, settings)
            t1 = time.perf_counter()
            path = save_workbook(wb, Path(tmp) / "map.yaml")
            load_workbook(path)
            t2 = time.perf_counter()
            confirm_workbook(path, "bench")
            t3 = time.perf_counter()
        growth = ""
        if previous is not None:
            growth = (
                f"propose x{(t1 - t0) / previous[0]:.2f}, confirm x{(t3 - t2) / previous[1]:.2f}"
            )
        previous = (t1 - t0, t3 - t2)
        print(f"{width:>14,} {t1 - t0:>10.2f} {t2 - t1:>12.2f} {t3 - t2:>10.2f}  {growth}")


if __name__ == "__main__":
    main()
