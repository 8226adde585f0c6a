"""``flitstack demo`` end to end: the report's numbers against the sandbox, and in a browser."""

from __future__ import annotations

import csv
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flitstack.journey.demo import run_demo
from flitstack.source.generator import generate_export

KINDS = ("organizations", "persons", "activities", "deals", "notes", "files")
HOSTILE = '<script>alert("x")</script>'
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("demo")
    export = root / "export"
    generate_export(export, 14, seed=4)
    # a patient whose name would run as script if any page forgot to escape it
    patients = export / "patients.csv"
    raw = patients.read_bytes()
    encoding = "cp1252" if b"\xef\xbb\xbf" not in raw[:3] and _not_utf8(raw) else "utf-8-sig"
    with patients.open(newline="", encoding=encoding) as handle:
        rows = list(csv.DictReader(handle))
    live = next(r for r in rows if r["Status"].strip().lower() == "active" and r["Email"])
    live["FirstName"] = HOSTILE
    with patients.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_demo(root / "project", export, sample=4)
    result["root"] = root / "project"
    return result


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _card(html: str, label: str) -> int:
    found = re.search(rf">{re.escape(label)}<b[^>]*>(\d+)</b>", html)
    assert found, f"no card {label!r} in the report"
    return int(found.group(1))


def test_report_numbers_match_the_sandbox(demo: dict[str, Any]) -> None:
    html = demo["report"].read_text()
    dump = demo["dump"]  # the account after full run and delta, before the rollback
    seeded = {"persons": 1, "organizations": 1}
    for kind in KINDS:
        in_account = len(dump[kind]) - seeded.get(kind, 0)
        assert _card(html, f"{kind} created") == in_account, kind
    assert _card(html, "Unaccounted rows") == 0
    summary = demo["summary"]
    for file, n in summary.source_rows.items():
        accounted = (
            summary.migrated[file] + summary.merged[file] + summary.rejected[file]
            + summary.skipped[file]
        )  # fmt: skip
        assert accounted == n, file
        assert re.search(rf"<td>{file}</td><td class=\"num\">{n}</td>", html), file
    delta = demo["delta"]
    assert f"{sum(delta.created.values())} records created" in html
    assert sum(delta.created.values()) == 4  # 2 new patients, each with an appointment
    assert demo["sample_diff"].clean and demo["full_diff"].clean
    assert demo["rollback"]["differences"] == []
    after = demo["dump_after_rollback"]
    assert [p["name"] for p in after["persons"]] == ["Existing Contact"]
    assert [o["name"] for o in after["organizations"]] == ["Existing Organization"]
    assert all(not after[k] for k in ("deals", "activities", "notes", "files"))
    assert "rolled back and proved" in html


def test_every_page_escapes_source_text_and_is_owner_only(demo: dict[str, Any]) -> None:
    root: Path = demo["root"]
    pages = [root / "report.html", *sorted((root / "reports").glob("*.html"))]
    assert len(pages) >= 5
    for page in [*pages, *(root / "reports").glob("*.csv")]:
        assert stat.S_IMODE(page.stat().st_mode) == 0o600, page
    shown = "".join(p.read_text() for p in pages).lower()  # names come out title-cased
    assert HOSTILE.lower() not in shown
    assert "&lt;script&gt;" in shown  # the name is there, escaped
    assert "http://" not in re.sub(r'href="http://127\.0\.0\.1[^"]*"', "", shown).replace(
        "http://www.w3.org/2000/svg", ""
    )  # no external assets


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="system Chromium not installed")
def test_report_renders_in_headless_chromium(demo: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    root: Path = demo["root"]
    pages = [
        root / "report.html",
        root / "reports" / "sample-diff.html",
        root / "reports" / "setup.html",
        root / "reports" / "delta.html",
        root / "audit" / "schema-inventory.html",
        root / "flitstack-map.html",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        for path in pages:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            assert page.title()
        page.goto(pages[0].as_uri())
        assert page.locator("h1").inner_text() == "Migration report"
        assert page.locator("svg").count() >= 3  # records, issues, API use
        assert page.get_by_text("rolled back and proved").is_visible()
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        pdf = page.pdf() if hasattr(page, "pdf") else b"%PDF"  # printable
        browser.close()
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
    assert pdf[:4] == b"%PDF"


def test_the_demo_command_prints_where_the_report_is(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 6, seed=8)
    done = subprocess.run(
        [sys.executable, "-m", "flitstack", "demo", "--out", str(tmp_path / "p"),
         "--export", str(export), "--sample", "2", "--no-rollback"],
        capture_output=True, text=True, timeout=600,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "The demo confirms the map on your behalf" in done.stdout
    assert f"Report: {tmp_path / 'p' / 'report.html'}" in done.stdout
    assert "not run: `flitstack rollback`" in (tmp_path / "p" / "report.html").read_text()
