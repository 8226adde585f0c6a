"""No literal export column name outside the schema and the known field map.

Rows read through the map's bindings are keyed by role, the MDC format's canonical column
names; code names them with ``flitstack.source.schema.role(file, "snake_name")`` so a column
renamed in ``source/schema.py`` is renamed everywhere and a typo fails loudly. Only CamelCase
names are policed (``PatientID``, ``StartDateTime``): single words such as ``Name`` or
``Status`` are too common in ordinary text to tell apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

import flitstack
from flitstack.source.schema import FILES

PACKAGE = Path(flitstack.__file__).parent
#: the files allowed to spell columns out, and the sandbox (it models Pipedrive, not the export)
EXEMPT = {Path("source/schema.py"), Path("mapping/known.py")}
EXEMPT_PACKAGES = {"sandbox"}


def _camel(name: str) -> bool:
    return any(ch.isupper() for ch in name[1:]) or name.endswith("ID")


COLUMNS = frozenset(c.name for spec in FILES.values() for c in spec.columns if _camel(c.name))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (first statement of a module/class/def)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.add(id(body[0].value))
    return found


def _sources() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel in EXEMPT or rel.parts[0] in EXEMPT_PACKAGES:
            continue
        out.append(path)
    return out


def literal_columns() -> list[str]:
    """``file:line: "Column"`` for every string constant equal to a CamelCase column name."""
    offenders: list[tuple[str, int, str]] = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in COLUMNS
                and id(node) not in skip
            ):
                rel = path.relative_to(PACKAGE.parent).as_posix()
                offenders.append((rel, node.lineno, node.value))
    return [f"{rel}:{line}: {value!r}" for rel, line, value in sorted(offenders)]


def test_the_check_sees_the_columns_and_the_files() -> None:
    assert {"PatientID", "StartDateTime", "GuarantorID"} <= COLUMNS
    assert not {"Name", "Email", "Status", "Note", "Title"} & COLUMNS
    rels = {p.relative_to(PACKAGE) for p in _sources()}
    assert Path("source/later.py") in rels
    assert not rels & EXEMPT
    assert not any(r.parts[0] == "sandbox" for r in rels)


def test_no_literal_column_names_outside_the_schema() -> None:
    offenders = literal_columns()
    assert not offenders, (
        "use flitstack.source.schema.role(file, 'snake_name') instead of these literal "
        "column names:\n" + "\n".join(offenders)
    )
