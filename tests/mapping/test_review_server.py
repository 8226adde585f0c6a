"""``flitstack map review``: the page on a loopback port, driven over HTTP and in headless Chromium.

The README's screenshot comes from this module, run once by hand:
``.venv/bin/python -m tests.mapping.test_review_server docs/map-review.png``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from flitstack.mapping.confirm import read_confirmation, require_confirmed
from flitstack.mapping.propose import propose_map
from flitstack.mapping.review_server import EDITED, KEPT, serving_review
from flitstack.mapping.workbook import load_workbook, save_workbook, workbook_digest
from flitstack.source.generator import generate_export
from tests.mapping.conftest import rename_export

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = '<script>alert("x")</script>'
JSON = {"accept": "application/json"}


def propose_workbook(root: Path) -> Path:
    """A workbook proposed from a small generated export with renamed and unknown columns (so
    some entries are marked for review)."""
    generate_export(root / "export", 20, seed=3)
    rename_export(root / "export", root / "renamed")
    return save_workbook(propose_map(root / "renamed"), root / "proposed.yaml")


@pytest.fixture(scope="module")
def proposed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return propose_workbook(tmp_path_factory.mktemp("review"))


@pytest.fixture
def workbook(proposed: Path, tmp_path: Path) -> Path:
    path = tmp_path / "flitstack-map.yaml"
    shutil.copy(proposed, path)
    return path


def _column_form(token: str, **fields: object) -> dict[str, object]:
    form: dict[str, object] = {
        "token": token, "file": "patients", "column": "Cell #", "migrate": "yes",
        "target": "person", "field": "phones", "transform": "phone_e164",
        "opt_key": ["label", "primary"], "opt_value": ["mobile", "true"],
    }  # fmt: skip
    form.update(fields)
    return form


def test_requests_without_the_token_are_forbidden(workbook: Path) -> None:
    before = workbook.read_bytes()
    with serving_review(workbook) as server, httpx.Client() as client:
        origin = server.url.split(f"/{server.token}/")[0]
        assert server.url.startswith("http://127.0.0.1:")
        assert client.get(origin + "/").status_code == 403
        assert client.get(f"{origin}/{'x' * len(server.token)}/").status_code == 403
        assert client.get(f"{origin}/favicon.ico").status_code == 403
        page = client.get(server.url)
        assert page.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
        # another host name (DNS rebinding) is refused even with the token
        assert client.get(server.url, headers={"host": "evil.example"}).status_code == 403
        # a POST needs the token in its form too (CSRF), and must come from the page's origin
        name = {"name": "Mallory"}
        assert client.post(server.url + "confirm", data=name).status_code == 403
        forged = {"origin": "http://evil.example"}
        answer = client.post(
            server.url + "confirm", data={**name, "token": server.token}, headers=forged
        )
        assert answer.status_code == 403
        post = client.post(origin + "/confirm", data={**name, "token": server.token})
        assert post.status_code == 403
    assert read_confirmation(workbook) is None
    assert workbook.read_bytes() == before


def test_an_invalid_edit_is_refused_with_one_line_and_nothing_saved(workbook: Path) -> None:
    before = workbook.read_bytes()
    digest = workbook_digest(load_workbook(workbook))
    with serving_review(workbook) as server, httpx.Client() as client:
        url, token = server.url, server.token

        def refused(action: str, form: dict[str, object], status: int = 400) -> str:
            answer = client.post(url + action, data=form, headers=JSON)
            assert answer.status_code == status, answer.text
            body = answer.json()
            assert body["ok"] is False and "\n" not in body["error"]
            return str(body["error"])

        assert "unknown transform 'dat'" in refused("column", _column_form(token, transform="dat"))
        assert "unknown person field 'phone'" in refused(
            "column", _column_form(token, field="phone")
        )
        assert "unknown target 'persn'" in refused("column", _column_form(token, target="persn"))
        error = refused("column", _column_form(token, opt_key=["colour"], opt_value=["red"]))
        assert "unknown option 'colour'" in error
        assert "needs a value" in refused("column", _column_form(token, opt_value=["", "true"]))
        error = refused(
            "column", _column_form(token, custom_name="x__c", custom_type="color", field="")
        )
        assert "no field type 'color'" in error
        vm = {"token": token, "value_map": "treatment_plan_status", "source": "Declined",
              "value": "Lost forever"}  # fmt: skip
        assert "is not a stage of pipeline" in refused("value-map", vm)
        assert "enter your name" in refused("confirm", {"token": token, "name": "  "})
        stale = _column_form(token, transform="text", digest="0" * 64)
        assert "changed on disk" in refused("column", stale, status=409)
        # without script the same refusal comes back as the page, with the error shown
        page = client.post(url + "column", data=_column_form(token, transform="dat"))
        assert page.status_code == 400 and "unknown transform &#39;dat&#39;" in page.text
    assert workbook.read_bytes() == before
    assert workbook_digest(load_workbook(workbook)) == digest
    assert read_confirmation(workbook) is None


def test_an_edit_is_saved_in_place_keeping_comments(workbook: Path) -> None:
    entry = "  - file: patients\n    column: 'Cell #'"
    note = "  # checked the mobile numbers with the front desk\n"
    text = workbook.read_text().replace(entry, note + entry)
    workbook.write_text(text)
    assert "# patients.Cell # → person.phones · 98% · REVIEW" in text
    with serving_review(workbook) as server, httpx.Client() as client:
        form = _column_form(server.token, transform="text", opt_value=["cell", "true"])
        answer = client.post(server.url + "column", data=form, headers=JSON)
        assert answer.status_code == 200, answer.text
        assert answer.json()["digest"] == workbook_digest(load_workbook(workbook))
        keep = {"token": server.token, "file": "patients", "column": "Referred By"}
        assert client.post(server.url + "keep", data=keep, headers=JSON).status_code == 200
        stage = {"token": server.token, "value_map": "treatment_plan_status",
                 "source": "Declined", "value": "Accepted"}  # fmt: skip
        assert client.post(server.url + "value-map", data=stage).status_code == 303  # no script
    saved = workbook.read_text()
    assert "# checked the mobile numbers with the front desk" in saved
    assert "# patients.Cell # → person.phones · 98%\n" in saved  # no longer marked REVIEW
    wb = load_workbook(workbook)
    cell = wb.column_map("patients", "Cell #")
    assert cell is not None and cell.transform == "text" and not cell.review
    assert cell.options == {"label": "cell", "primary": True}
    assert cell.reason.startswith(f"{EDITED} (transform phone_e164 → text; options")
    assert "only 95.0% of 20 values pass" in cell.reason  # what was proposed, and why, is kept
    kept = wb.column_map("patients", "Referred By")
    assert kept is not None and not kept.review and kept.reason.startswith(KEPT)
    status = wb.value_map("treatment_plan_status")
    assert status is not None and status.values["Declined"] == "Accepted"
    assert (workbook.stat().st_mode & 0o777) == 0o600


def test_a_workbook_with_problems_opens_and_lists_them(workbook: Path) -> None:
    workbook.write_text(workbook.read_text().replace("transform: money\n", "transform: mony\n", 1))
    with serving_review(workbook) as server, httpx.Client() as client:
        page = client.get(server.url)
        assert page.status_code == 200
        assert "1 problem stops the confirmation" in page.text
        assert "unknown transform &#39;mony&#39;" in page.text
        form = {"token": server.token, "name": "Dr. Ada Reviewer"}
        answer = client.post(server.url + "confirm", data=form, headers=JSON)
        assert answer.status_code == 400
        assert answer.json()["error"].startswith("1 problem stops the confirmation; first: ")
        workbook.write_text("columns: [unclosed\n")
        page = client.get(server.url)
        assert page.status_code == 200 and "not valid YAML" in page.text
    assert read_confirmation(workbook) is None


def test_the_page_escapes_what_the_workbook_holds(workbook: Path) -> None:
    wb = load_workbook(workbook)
    wb.columns[0].reason = HOSTILE
    save_workbook(wb, workbook)
    with serving_review(workbook) as server:
        html = httpx.get(server.url).text
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html  # no external resources


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="system Chromium not installed")
def test_review_edit_and_confirm_in_headless_chromium(workbook: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    wb = load_workbook(workbook)
    to_review = [c for c in wb.columns if c.review]
    assert len(to_review) >= 3
    with serving_review(workbook) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        page.goto(server.url)

        # review items come first, each visibly marked
        items = page.locator("article.col")
        assert items.count() == len(wb.columns)
        for n in range(len(to_review)):
            assert "review" in (items.nth(n).get_attribute("class") or "")
            expect(items.nth(n).locator("[data-f=mark]")).to_be_visible()
        assert "review" not in (items.nth(len(to_review)).get_attribute("class") or "")
        shown = [
            (items.nth(n).get_attribute("data-file"), items.nth(n).get_attribute("data-column"))
            for n in range(len(to_review))
        ]
        assert shown == [(c.file, c.column) for c in to_review]
        assert page.locator("#files article.review").count() == 0

        # an edit through the page's lists of valid values
        first = page.locator("#review article").first
        entry = wb.column_map(*shown[0])
        assert entry is not None
        new_transform = "text" if entry.transform != "text" else "name"
        first.locator("select[name=transform]").select_option(new_transform)
        first.get_by_role("button", name="Save").click()
        expect(first.locator("[data-f=status]")).to_contain_text("saved")
        expect(first.locator("[data-f=mark]")).to_have_text("✓ decided")
        expect(first.locator("[data-f=transform]")).to_have_text(new_transform)

        # an invalid value (as from a stale or tampered page) is refused, shown, not saved
        saved = workbook.read_bytes()
        second = page.locator("#review article").nth(1)
        second.locator("select[name=transform]").evaluate(
            "s => { s.add(new Option('dat', 'dat')); s.value = 'dat'; }"
        )
        second.get_by_role("button", name="Save").click()
        expect(second.locator("[data-f=error]")).to_contain_text("unknown transform 'dat'")
        assert workbook.read_bytes() == saved

        # confirm with a name; the page shows the digest
        page.locator("#protection-as-proposed").check()  # patient data: the proposals
        page.locator("#confirm-name").fill("Dr. Ada Reviewer")
        page.locator("#confirm-button").click()
        expect(page.locator("#state")).to_have_text("confirmed")
        # the decisions taken as proposed are written into the workbook, then confirmed
        expect(page.locator("#digest")).to_have_text(workbook_digest(load_workbook(workbook)))
        digest = page.locator("#digest").inner_text()
        page.reload()
        expect(page.locator("#digest")).to_have_text(digest)
        browser.close()

    # the browser reports the refused edit's 400 answer; nothing else may go wrong
    assert [e for e in errors if "status of 400" not in e] == []
    assert all(u.startswith(server.url) or u.startswith("data:") for u in requests), requests
    confirmation = require_confirmed(workbook)  # the gate `migrate` uses agrees
    assert confirmation.digest == digest == workbook_digest(load_workbook(workbook))
    assert confirmation.confirmed_by == "Dr. Ada Reviewer"
    assert confirmation.review_items == len(to_review) - 1
    edited = load_workbook(workbook).column_map(entry.file, entry.column)
    assert edited is not None and edited.transform == new_transform and not edited.review
    assert edited.reason.startswith(EDITED)


def write_screenshot(out: Path) -> Path:
    """A full-page PNG of the review screen on a freshly proposed workbook (for the README)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        path = propose_workbook(Path(tmp))
        with serving_review(path) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(server.url)
            page.wait_for_load_state("load")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    return out


if __name__ == "__main__":
    print(write_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/map-review.png")))
