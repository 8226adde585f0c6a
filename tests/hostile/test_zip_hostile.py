"""Hostile and broken exports: zips whose members climb out, link out, or expand without end are
refused in one line naming the member before anything is read; a document too large for Pipedrive
is rejected on its row and never read; documents are uploaded as streams, never held whole."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import os
import stat
import struct
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from flitstack.engine.load import Accounting, run_kinds
from flitstack.engine.objects import KINDS
from flitstack.engine.records import ENGINE_FIELDS, Builder, Setup
from flitstack.engine.target import InMemoryTarget
from flitstack.mapping.propose import propose_map
from flitstack.mapping.roles import Bindings
from flitstack.pipedrive.client import PipedriveClient
from flitstack.sandbox.server import SandboxConfig, running_sandbox
from flitstack.settings import Settings
from flitstack.source import reader
from flitstack.source.generator import generate_export
from flitstack.source.reader import DocumentFile, ExportError, Reject, Row, open_export

MB = 1024 * 1024
CSV = b"PatientID,FirstName,LastName\n1,Ann,Lee\n"
SETTINGS = Settings(timezone="America/Chicago")


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def _zeros(zf: zipfile.ZipFile, name: str, size: int) -> None:
    """A member of ``size`` zeros, written in chunks (the test never holds it whole)."""
    chunk = bytes(MB)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as fh:
        for _ in range(size // MB):
            fh.write(chunk)


def _central_entry(data: bytes | bytearray, name: str) -> int:
    """Where a member's central directory entry starts."""
    at = data.index(b"PK\x01\x02")
    while True:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == name.encode():
            return at
        at = data.index(b"PK\x01\x02", at + 46)


def _refusal(archive: Path) -> str:
    with pytest.raises(ExportError) as info:
        open_export(archive)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{archive}: ")
    return message


# --- refused at open ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.csv", "'..' path"),
        ("mdc/../../evil.csv", "'..' path"),
        ("mdc/documents/../../../etc/cron.d/x", "'..' path"),
        ("..\\..\\evil.csv", "'..' path"),
        ("/etc/passwd", "absolute path"),
        ("C:\\Windows\\evil.csv", "absolute path"),
        ("C:/Windows/evil.csv", "absolute path"),
        ("\\\\server\\share\\evil.csv", "absolute path"),
    ],
)
def test_a_member_whose_path_leads_out_is_refused_in_one_line_naming_it(
    tmp_path: Path, name: str, why: str
) -> None:
    archive = _zip(tmp_path / "export.zip", {"mdc/patients.csv": CSV, name: CSV})
    message = _refusal(archive)
    assert f"zip member {name!r}" in message and why in message and message.endswith("refused")


def test_a_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("patients.csv", CSV)
        link = zipfile.ZipInfo("documents/1/xray.png")
        link.create_system = 3  # Unix: the mode sits in the high bits of external_attr
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    message = _refusal(archive)
    assert "zip member 'documents/1/xray.png' is a symbolic link" in message


def test_an_encrypted_member_is_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "export.zip", {"patients.csv": CSV}, zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local, central
        at = data.index(signature)
        data[at + flag_at] |= 0x1
    archive.write_bytes(bytes(data))
    assert "zip member 'patients.csv' is encrypted" in _refusal(archive)


def test_the_zip_bomb_as_found_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """As reported: a ~200 KB zip whose one document expands to 200 MB."""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("patients.csv", CSV)
        zf.writestr("documents.csv", "DocumentID,PatientID,FileName\n1,1,1/scan.png\n")
        _zeros(zf, "documents/1/scan.png", 200 * MB)
    assert archive.stat().st_size < MB
    tracemalloc.start()
    try:
        message = _refusal(archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "zip member 'documents/1/scan.png' expands" in message and "zip bomb" in message
    assert "to 200.0 MB" in message
    assert peak < 4 * MB  # headers only: nothing was decompressed


def test_a_bomb_csv_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        _zeros(zf, "mdc/patients.csv", 16 * MB)
    message = _refusal(archive)
    assert "zip member 'mdc/patients.csv' expands" in message and "zip bomb" in message


def test_many_small_bombs_are_refused_by_the_zip_as_a_whole(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("patients.csv", CSV)
        for i in range(40):  # each under the ratio floor, together 40 MB from a few KB
            _zeros(zf, f"documents/{i}/scan.png", 1 * MB)
    message = _refusal(archive)
    assert "zip expands" in message and "in all, a zip bomb" in message


def test_members_overlapping_the_same_bytes_are_refused(tmp_path: Path) -> None:
    """A non-recursive bomb: many directory entries pointing at one compressed member."""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("patients.csv", os.urandom(64 * 1024))
    data = archive.read_bytes()
    cd_at = data.index(b"PK\x01\x02")
    eocd_at = data.index(b"PK\x05\x06")
    entry = data[cd_at:eocd_at]
    copies = [entry] + [entry.replace(b"patients.csv", f"patient{i:02}.cs".encode()) for i in
                        range(30)]  # fmt: skip
    central = b"".join(copies)
    eocd = bytearray(data[eocd_at:])
    struct.pack_into("<HHII", eocd, 8, len(copies), len(copies), len(central), cd_at)
    archive.write_bytes(data[:cd_at] + central + bytes(eocd))
    assert len(zipfile.ZipFile(archive).infolist()) == 31
    assert "zip members overlap" in _refusal(archive)


def test_a_member_too_large_for_an_export_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_MEMBER_BYTES", 1 * MB)
    archive = _zip(tmp_path / "export.zip", {"patients.csv": os.urandom(2 * MB)})
    message = _refusal(archive)
    assert "zip member 'patients.csv' expands to 2.0 MB, over the 1 MB" in message


def test_a_broken_zip_is_one_line(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "export.zip", {"patients.csv": CSV})
    data = archive.read_bytes()
    cd_at = data.index(b"PK\x01\x02")
    archive.write_bytes(data[:cd_at] + b"\0" * 8 + data[cd_at + 8 :])  # central directory hit
    assert "unreadable .zip file" in _refusal(archive)


def test_a_plain_export_zip_still_reads(tmp_path: Path) -> None:
    result = generate_export(tmp_path / "export", 8, seed=5, zip=True)
    with open_export(result.path) as export:
        assert "patients" in export.csv_files()
        rows = list(export.read("documents"))
        assert rows and all(isinstance(r, Row) for r in rows)
        present = [r for r in rows if isinstance(r, Row) and export.document_exists(
            str(r.values["FileName"]))]  # fmt: skip
        assert present and all(
            export.document_problem(str(r.values["FileName"])) is None for r in present
        )


# --- reads that lie -----------------------------------------------------------------------------


def test_a_header_that_lies_about_the_size_gives_no_more_than_it_said(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("patients.csv", CSV)
        _zeros(zf, "documents/1/scan.png", 2 * MB)
    data = bytearray(archive.read_bytes())
    at = _central_entry(data, "documents/1/scan.png")
    struct.pack_into("<I", data, at + 24, 1000)  # the central directory now says 1000 bytes
    archive.write_bytes(bytes(data))
    with open_export(archive) as export:
        assert export.document_problem("1/scan.png") is None
        with pytest.raises(ExportError) as info:
            export.open_document("1/scan.png")
    message = str(info.value)
    assert "\n" not in message and f"{archive}: zip member 'documents/1/scan.png'" in message
    assert "is damaged" in message


def test_a_document_that_grows_past_the_limit_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_DOCUMENT_BYTES", 2 * MB)
    (tmp_path / "documents" / "1").mkdir(parents=True)
    (tmp_path / "patients.csv").write_bytes(CSV)
    doc = tmp_path / "documents" / "1" / "scan.png"
    doc.write_bytes(bytes(MB))
    with open_export(tmp_path) as export:
        document = export.document("1/scan.png")
        with doc.open("ab") as fh:
            fh.write(bytes(2 * MB))
        with pytest.raises(ExportError, match=r"scan.png holds more than the 2 MB allowed"):
            document.sha256()


# --- documents too large for Pipedrive --------------------------------------------------------


def _setup(wb: Any) -> Setup:
    s = Setup(fallback_user=1, activity_types={"meeting", "task", "call"})
    n = 0
    for pipe in wb.pipelines:
        n += 1
        s.pipelines[pipe.name] = n
        for stage in pipe.stages:
            n += 1
            s.stages[(pipe.name, stage)] = n
    for (target, name), custom in wb.custom_fields().items():
        s.fields[(target, name)] = {"key": f"h_{name}", "type": custom.field_type, "options": {}}
    for target, name, ftype, _ in ENGINE_FIELDS:
        s.fields.setdefault((target, name), {"key": f"h_{name}", "type": ftype, "options": {}})
    return s


def _run(
    export_path: Path, target: InMemoryTarget | None = None
) -> tuple[InMemoryTarget, list[tuple[Any, ...]], dict[str, int]]:
    """Every kind against the in-memory target (as tests/engine/test_runner.py does)."""
    wb = propose_map(export_path, SETTINGS)
    notes: list[tuple[Any, ...]] = []
    target = target or InMemoryTarget()
    with open_export(export_path, Bindings.from_workbook(wb)) as ex:
        rows: dict[str, list[Row]] = {}
        accounting = Accounting(lambda *o: notes.append(o))
        for name in ex.csv_files():
            for item in ex.read(name):
                accounting.source_rows[name] += 1
                if isinstance(item, Reject):
                    accounting.row(name, None, "rejected", count=1)
                else:
                    rows.setdefault(name, []).append(item)
        b = Builder(wb, SETTINGS, _setup(wb))
        b.providers = {r.source_id: r for r in rows.get("providers", [])}
        b.locations = {r.source_id: r for r in rows.get("locations", [])}
        asyncio.run(run_kinds(KINDS, target, b, rows, accounting, shared={"export": ex}))
    outcomes = {o: accounting.outcomes[o]["documents"] for o in accounting.outcomes}
    return target, notes, outcomes


def test_an_oversize_document_is_rejected_on_its_row_and_never_uploaded(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 8, seed=5)
    with (export / "documents.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    present = [r for r in rows if (export / "documents" / r["FileName"]).is_file()]
    assert len(present) >= 2
    victim = present[0]
    with (export / "documents" / victim["FileName"]).open("wb") as fh:
        fh.truncate(200 * MB)  # sparse: 200 MB on paper, nothing on disk, never read

    target, notes, outcomes = _run(export)

    reasons = {n[1]: n[5] for n in notes if n[0] == "documents" and n[4] == "rejected"}
    assert reasons[victim["DocumentID"]] == (
        "the document is 200.0 MB, over the 50 MB limit per file: not uploaded"
    )
    assert f"documents:{victim['DocumentID']}" not in target.keys
    uploaded = target.records["files"].values()
    assert all(b["file_size"] < 200 * MB for b in uploaded)
    assert outcomes["migrated"] == sum(k.startswith("documents:") for k in target.keys) >= 1
    assert outcomes["migrated"] + outcomes["rejected"] == len(rows)


def test_an_oversize_document_in_a_zip_has_the_same_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_DOCUMENT_BYTES", 1 * MB)
    archive = _zip(
        tmp_path / "export.zip",
        {"patients.csv": CSV, "documents/1/scan.png": os.urandom(3 * MB // 2)},
        zipfile.ZIP_STORED,
    )
    with open_export(archive) as export:
        assert export.document_problem("1/scan.png") == (
            "the document is 1.5 MB, over the 1 MB limit per file: not uploaded"
        )
        with pytest.raises(ExportError, match=r"^documents/1/scan.png: the document is 1.5 MB"):
            export.document("1/scan.png")


def test_a_document_linking_out_is_still_refused_before_its_size_is_asked(tmp_path: Path) -> None:
    (tmp_path / "documents").mkdir()
    (tmp_path / "patients.csv").write_bytes(CSV)
    secret = tmp_path / "secret.bin"
    with secret.open("wb") as fh:
        fh.truncate(200 * MB)
    (tmp_path / "documents" / "x.png").symlink_to(secret)
    with open_export(tmp_path) as export:
        assert export.document_problem("x.png") == (
            "the document is a link out of the documents folder: refused"
        )


# --- streamed uploads ---------------------------------------------------------------------------


class _Sink(httpx.AsyncBaseTransport):
    """Reads each request body in chunks as a server would; the first answer can be a 503."""

    def __init__(self, fail_first: bool) -> None:
        self.fail_first = fail_first
        self.bodies: list[tuple[int, int]] = []  # (bytes received, Content-Length)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        received = 0
        async for chunk in request.stream:
            received += len(chunk)
        self.bodies.append((received, int(request.headers["content-length"])))
        if self.fail_first and len(self.bodies) == 1:
            return httpx.Response(503, json={"success": False, "error": "busy"})
        return httpx.Response(200, json={"success": True, "data": {"id": 7}})


def test_an_upload_streams_the_document_and_a_resent_one_reads_it_again(tmp_path: Path) -> None:
    size = 24 * MB
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("patients.csv", CSV)
        with zf.open("documents/1/scan.png", "w", force_zip64=True) as fh:
            for _ in range(size // MB):
                fh.write(os.urandom(MB))
    sink = _Sink(fail_first=True)

    async def upload() -> dict[str, Any]:
        async with PipedriveClient("http://pd.test", "token", transport=sink) as pd:
            with open_export(archive) as export:
                document = export.document("1/scan.png")
                return await pd.upload_file("scan.png", document, "image/png", {"person_id": 1})

    tracemalloc.start()
    try:
        result = asyncio.run(upload())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result == {"id": 7}
    assert len(sink.bodies) == 2  # the 503, then the resent request
    for received, length in sink.bodies:
        assert received == length > size  # the whole document, both times
    assert peak < size // 4  # streamed: never held whole


def test_the_sandbox_receives_the_streamed_document_intact(tmp_path: Path) -> None:
    content = os.urandom(3 * MB) + bytes(MB)
    archive = _zip(tmp_path / "export.zip", {"patients.csv": CSV, "documents/1/a.pdf": content})
    with running_sandbox(SandboxConfig(burst_limit=1000, search_burst_limit=1000)) as sb:

        async def go() -> int:
            async with PipedriveClient(sb.base_url, sb.api_token) as pd:
                person = await pd.create("persons", {"name": "Ann Lee"})
                with open_export(archive) as export:
                    document = export.document("1/a.pdf")
                    assert len(document) == len(content)
                    assert document.sha256() == hashlib.sha256(content).hexdigest()
                    made = await pd.upload_file(
                        "a.pdf", document, "application/pdf", {"person_id": person["id"]}
                    )
                    return int(made["id"])

        file_id = asyncio.run(go())
        stored = next(f for f in sb.dump()["files"] if f["id"] == file_id)
    assert stored["file_size"] == len(content)
    assert stored["sha256"] == hashlib.sha256(content).hexdigest()


def test_the_documents_kind_hands_over_streams_not_bytes(tmp_path: Path) -> None:
    export = tmp_path / "export"
    generate_export(export, 8, seed=5)
    handed: list[object] = []

    class Recording(InMemoryTarget):
        async def write(self, w: Any, ctx: Any) -> int:
            if w.upload is not None and w.key.startswith("documents:"):
                handed.append(w.upload()[1])
            return await super().write(w, ctx)

    target, _notes, outcomes = _run(export, Recording())
    assert handed and len(handed) == outcomes["migrated"]
    assert all(isinstance(content, DocumentFile) for content in handed)
    assert all(b["file_size"] == len(c) for b, c in zip(
        [target.records["files"][target.keys[k]] for k in target.keys
         if k.startswith("documents:")], handed, strict=True))  # fmt: skip
