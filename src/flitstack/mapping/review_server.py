"""``flitstack map review``: the workbook as a page on 127.0.0.1 where a person reviews, edits and
confirms the field map.

The page shows only what the workbook holds: failing examples stay masked as the evidence
masked them. Every request needs the random token in its path (anything else is answered 403);
every POST carries the token again as a form field (CSRF) and must come from the page's own
origin. Each edit is checked with the rules ``map confirm`` applies (``validate_workbook``)
before it is written into the same YAML, in place, so a person's comments survive; confirming
goes through ``confirm_workbook``, so the digest is the one ``map confirm`` would record.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flitstack import __version__
from flitstack.errors import BadInput
from flitstack.mapping.confirm import (
    Confirmation,
    ProtectionUndecided,
    confirm_workbook,
    read_confirmation,
)
from flitstack.mapping.validate import (
    VALID_FIELDS,
    VALID_OPTION_KEYS,
    VALID_TRANSFORMS,
    VALUE_MAP_VALUES,
    WorkbookValidationError,
    validate_workbook,
)
from flitstack.mapping.workbook import (
    PIPEDRIVE_FIELD_TYPES,
    TARGETS,
    ColumnMap,
    CustomField,
    ValueMap,
    Workbook,
    WorkbookError,
    _yaml,
    load_raw,
    load_workbook,
    save_workbook,
    workbook_digest,
)
from flitstack.mapping.workbook_page import write_workbook_html
from flitstack.reporting import render, write_private
from flitstack.settings import Settings

#: How a hand decision made on the page is recorded in the entry's reason (the proposal's own
#: reason is kept after it, so the workbook still says what was proposed and why).
EDITED = "set by hand in map review"
KEPT = "kept as proposed in map review"
_DECIDED = re.compile(rf"^(?:{EDITED} \(.*?\); proposed: |{KEPT}; flagged because: )", re.S)


class EditRefused(BadInput):
    """An edit the page cannot save; the message is one line, shown beside the entry."""


class StaleWorkbook(EditRefused):
    """The workbook changed on disk since the page showed it."""


# --- the library: edits as plain calls on a workbook file ----------------------------------------


@dataclass
class ColumnEdit:
    """What the page's form says one column becomes."""

    migrate: bool
    target: str | None
    field: str | None
    transform: str
    custom_name: str = ""
    custom_type: str = "varchar"
    custom_choices: list[str] = dc_field(default_factory=list)
    options: dict[str, Any] = dc_field(default_factory=dict)


#: The last workbook read or written per file, with the file's (mtime, size, inode) then:
#: parsing a commented YAML of a few hundred columns takes a good part of a second.
_READ: dict[Path, tuple[tuple[int, int, int], Workbook]] = {}


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _remember(path: Path, wb: Workbook) -> None:
    _READ[path] = (_stamp(path), wb.model_copy(deep=True))


def read_for_review(path: Path) -> Workbook:
    """The workbook as written, even when it names things that do not exist (the page shows
    those problems instead of refusing to open); unreadable YAML raises ``WorkbookError``."""
    try:
        stamp = _stamp(path)
    except FileNotFoundError:
        stamp = None
    known = _READ.get(path)
    if known is not None and known[0] == stamp:
        return known[1].model_copy(deep=True)
    try:
        wb = load_workbook(path)
    except WorkbookError as exc:
        try:  # the loader stops at an unknown target or field type; the page lists them
            wb = Workbook.model_validate(json.loads(json.dumps(load_raw(path))))
        except ValidationError:
            raise exc from None
    _remember(path, wb)
    return wb.model_copy(deep=True)


def problems(wb: Workbook, source: str) -> list[str]:
    """Every line ``map confirm`` would refuse the workbook with (empty: it would confirm)."""
    try:
        validate_workbook(wb, source)
    except WorkbookValidationError as exc:
        return exc.problems
    return []


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _refusal(before: Workbook, after: Workbook, where: str, source: str) -> str | None:
    """The edit's problems: any new one, and any left on the entry being edited."""
    old = set(problems(before, source))
    bad = [p for p in problems(after, source) if p not in old or p.startswith(where + ":")]
    if not bad:
        return None
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return _one_line(bad[0].removeprefix(f"{source}: ")) + more


def _entry(wb: Workbook, file: str, column: str) -> tuple[int, ColumnMap]:
    for i, c in enumerate(wb.columns):
        if c.file == file and c.column == column:
            return i, c
    raise StaleWorkbook(f"{file}.{column} is not in the workbook any more: reload the page")


def _check_fresh(wb: Workbook, seen: str | None) -> None:
    if seen and seen != workbook_digest(wb):
        raise StaleWorkbook(
            "the workbook changed on disk since this page was loaded: reload the page (nothing "
            "was saved)"
        )


def _proposed_reason(reason: str) -> str:
    return _DECIDED.sub("", reason, count=1)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _changes(old: ColumnMap, new: ColumnMap) -> list[str]:
    out = []
    for name in ("migrate", "target", "field", "transform"):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            out.append(f"{name} {a if a is not None else '—'} → {b if b is not None else '—'}")
    a_custom = old.custom.model_dump(exclude={"source"}) if old.custom else None
    b_custom = new.custom.model_dump(exclude={"source"}) if new.custom else None
    if a_custom != b_custom:
        out.append(
            f"custom field {new.custom.name} ({new.custom.field_type})"
            if new.custom
            else "no custom field"
        )
    if old.options != new.options:
        out.append(f"options {_show(new.options)}")
    return out


def _edited(entry: ColumnMap, edit: ColumnEdit) -> ColumnMap:
    data = entry.model_dump()
    custom = None
    if edit.custom_name.strip():
        source = entry.custom.source if entry.custom else None
        custom = CustomField(
            name=edit.custom_name.strip(),
            field_type=edit.custom_type,
            options=edit.custom_choices,
            source=source,
        ).model_dump()
    data.update(
        migrate=edit.migrate,
        target=edit.target or None,
        field=edit.field or None,
        transform=edit.transform,
        custom=custom,
        options=edit.options,
    )
    try:
        return ColumnMap.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise EditRefused(f"{entry.file}.{entry.column}: {where}: {err['msg']}") from exc


def _settings(wb: Workbook) -> Settings:
    try:
        return Settings.model_validate(wb.settings)
    except ValidationError:
        return Settings()


def _measured(wb: Workbook, entry: ColumnMap) -> ColumnMap:
    """The entry with its success rate and failing (masked) examples measured again for its new
    transform, when the export is still where the proposal read it; else left unmeasured."""
    entry = entry.model_copy(update={"success": None, "failing": []})
    export = Path(wb.export) if wb.export else None
    if not entry.migrate or export is None or not export.exists():
        return entry
    from flitstack.mapping.evidence import weigh

    probe = wb.model_copy(update={"columns": [entry.model_copy(deep=True)]})
    try:
        weigh(probe, export, _settings(wb))
    except Exception:  # the export moved or changed: show the entry as not measured
        return entry
    return entry.model_copy(
        update={"success": probe.columns[0].success, "failing": probe.columns[0].failing}
    )


def _note(c: ColumnMap) -> str:
    """The comment ``save_workbook`` writes above an entry (kept current when it is edited)."""
    note = f"{c.file}.{c.column} → {c.label} · {c.confidence:.0%}"
    return note + " · REVIEW" if c.review else note


def _comment_tokens(node: Any) -> Iterator[Any]:
    ca = getattr(node, "ca", None)
    if ca is None:
        return
    pending: list[Any] = [ca.comment, *ca.items.values()]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif item is not None and hasattr(item, "value"):
            yield item


def _renote(seq: Any, old: str, new: str) -> None:
    if old == new:
        return
    for node in (seq, *seq):
        for token in _comment_tokens(node):
            if f"# {old}\n" in token.value:
                token.value = token.value.replace(f"# {old}\n", f"# {new}\n", 1)
                return


def _write_doc(doc: Any, path: Path, expected: Workbook) -> None:
    """Write the edited YAML document; if it does not hold exactly the workbook that was
    checked (say YAML anchors shared a value), write that workbook afresh instead."""
    try:
        written = Workbook.model_validate(json.loads(json.dumps(doc)))
        same = workbook_digest(written) == workbook_digest(expected)
    except ValidationError:
        same = False
    if same:
        buffer = io.StringIO()
        _yaml().dump(doc, buffer)
        write_private(path, buffer.getvalue())
    else:
        save_workbook(expected, path)
    _remember(path, expected)


def _save_column(path: Path, wb: Workbook, index: int, old: ColumnMap, new: ColumnMap) -> None:
    doc = load_raw(path)
    items = doc["columns"]
    item = items[index]
    if item.get("file") != old.file or item.get("column") != old.column:
        raise StaleWorkbook("the workbook changed on disk while saving: reload the page")
    for key, value in new.model_dump(mode="json").items():
        if item.get(key) != value:
            item[key] = value
    _renote(items, _note(old), _note(new))
    after = wb.model_copy(deep=True)
    after.columns[index] = new
    _write_doc(doc, path, after)
    write_workbook_html(after, path)


def edit_column(
    path: Path, file: str, column: str, edit: ColumnEdit, seen: str | None = None
) -> ColumnMap:
    """Save one column's new target, field, custom field, transform and options, checked with
    the rules of ``map confirm``; a refused edit raises ``EditRefused`` and saves nothing.

    ``seen`` is the digest the person's page showed: a workbook changed since is not edited.
    """
    wb = read_for_review(path)
    _check_fresh(wb, seen)
    index, old = _entry(wb, file, column)
    new = _edited(old, edit)
    changes = _changes(old, new)
    if not changes:
        return old
    if (old.transform, old.options, old.custom) != (new.transform, new.options, new.custom):
        new = _measured(wb, new)
    new.review = False
    new.reason = f"{EDITED} ({'; '.join(changes)}); proposed: {_proposed_reason(old.reason)}"
    return _commit_column(path, wb, index, old, new, f"{file}.{column}")


def _commit_column(
    path: Path, wb: Workbook, index: int, old: ColumnMap, new: ColumnMap, where: str
) -> ColumnMap:
    """Check the workbook with ``new`` in place of ``old`` by confirm's rules, then save it."""
    after = wb.model_copy(deep=True)
    after.columns[index] = new
    refused = _refusal(wb, after, f"{path.name}: {where}", path.name)
    if refused:
        raise EditRefused(refused)
    _save_column(path, wb, index, old, new)
    return new


def keep_column(path: Path, file: str, column: str, seen: str | None = None) -> ColumnMap:
    """Record that the person keeps a review entry as proposed (the flag is cleared)."""
    wb = read_for_review(path)
    _check_fresh(wb, seen)
    index, old = _entry(wb, file, column)
    if not old.review:
        return old
    base = _proposed_reason(old.reason).removeprefix("REVIEW: ")
    new = old.model_copy(update={"review": False, "reason": f"{KEPT}; flagged because: {base}"})
    return _commit_column(path, wb, index, old, new, f"{file}.{column}")


def edit_value_map(
    path: Path, name: str, values: dict[str, str], seen: str | None = None
) -> ValueMap:
    """Save what a value map turns each source value into (stages, deal statuses…), checked
    with the rules of ``map confirm``."""
    wb = read_for_review(path)
    _check_fresh(wb, seen)
    index = next((i for i, v in enumerate(wb.value_maps) if v.name == name), None)
    if index is None:
        raise StaleWorkbook(f"value map {name} is not in the workbook any more: reload the page")
    old = wb.value_maps[index]
    unknown = [k for k in values if k not in old.values]
    if unknown:
        raise EditRefused(f"value map {name}: {unknown[0]!r} is not one of its source values")
    new = old.model_copy(update={"values": {k: values.get(k, v) for k, v in old.values.items()}})
    if new.values == old.values:
        return old
    after = wb.model_copy(deep=True)
    after.value_maps[index] = new
    refused = _refusal(wb, after, f"{path.name}: value map {name}", path.name)
    if refused:
        raise EditRefused(refused)
    doc = load_raw(path)
    raw_values = doc["value_maps"][index]["values"]
    for key, value in new.values.items():
        raw_values[key] = value
    _write_doc(doc, path, after)
    write_workbook_html(after, path)
    return new


def confirm_reviewed(
    path: Path, who: str, seen: str | None = None, *, protection_as_proposed: bool = False
) -> Confirmation:
    """Confirm the workbook as the page showed it, in ``who``'s name (required), through the
    same ``confirm_workbook`` as ``flitstack map confirm`` (``protection_as_proposed``: the
    page's box taking the profile's proposal for each undecided category of patient data)."""
    who = " ".join(who.split())
    if not who:
        raise EditRefused("enter your name: the confirmation records who confirmed the map")
    _check_fresh(read_for_review(path), seen)
    try:
        confirmation = confirm_workbook(path, who, protection_as_proposed=protection_as_proposed)
    except ProtectionUndecided as exc:
        raise EditRefused(_one_line(str(exc).removeprefix(f"{path}: "))) from exc
    except WorkbookValidationError as exc:
        count = len(exc.problems)
        raise EditRefused(
            f"{count} problem{'s stop' if count != 1 else ' stops'} the confirmation; first: "
            + _one_line(exc.problems[0].removeprefix(f"{path.name}: "))
        ) from exc
    write_workbook_html(read_for_review(path), path)
    return confirmation


# --- the page ---------------------------------------------------------------------------------


def option_text(value: Any) -> str:
    """An option value as the page's text box shows it; :func:`parse_option` reads it back."""
    if isinstance(value, str):
        try:
            same = yaml.safe_load(value) == value
        except yaml.YAMLError:
            same = False
        return value if same and value.strip() == value else json.dumps(value)
    return json.dumps(value, ensure_ascii=False)


def parse_option(key: str, text: str) -> Any:
    """A text box's option value: a word, number, true/false, or a [list] of those."""
    if not text.strip():
        raise EditRefused(f"option {key!r} needs a value (or choose '— remove —' as its name)")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EditRefused(f"option {key!r}: {text.strip()[:40]!r} is not a value") from exc
    scalar = (str, int, float, bool)
    if isinstance(value, scalar) or (
        isinstance(value, list) and all(isinstance(v, scalar) for v in value)
    ):
        return value
    raise EditRefused(
        f"option {key!r}: use a word, a number, true/false or a [list], not {text.strip()[:40]!r}"
    )


def _success_text(c: ColumnMap) -> str:
    if c.success is None:
        return "success not measured"
    return f"{c.success:.1%} of values pass"


def _vocab() -> dict[str, Any]:
    """The valid values the page's lists offer: the names ``validate_workbook`` accepts."""
    return {
        "fields": {t: sorted(VALID_FIELDS.get(t, ())) for t in TARGETS},
        "transforms": sorted(VALID_TRANSFORMS),
        "option_keys": sorted(VALID_OPTION_KEYS),
        "field_types": list(PIPEDRIVE_FIELD_TYPES),
    }


def _value_choices(wb: Workbook, vm: ValueMap) -> list[str] | None:
    """The values a value map may turn a source value into (None: free text)."""
    if vm.target == "stage":
        return next((p.stages for p in wb.pipelines if p.name == vm.pipeline), [])
    if vm.target in VALUE_MAP_VALUES:
        return list(VALUE_MAP_VALUES[vm.target])
    return None


def page_context(path: Path, token: str, error: str | None = None) -> dict[str, Any]:
    """Everything the review page shows (the template escapes every value)."""
    base = f"/{token}/"
    context: dict[str, Any] = {
        "base": base, "token": token, "path": path, "error": error, "version": __version__,
    }  # fmt: skip
    try:
        wb = read_for_review(path)
    except WorkbookError as exc:
        context["broken"] = _one_line(str(exc))
        return context
    digest = workbook_digest(wb)
    confirmation = read_confirmation(path)
    rows = list(enumerate(wb.columns))
    files: dict[str, list[tuple[int, ColumnMap]]] = {}
    for i, c in rows:
        files.setdefault(c.file, [])
        if not c.review:
            files[c.file].append((i, c))
    context.update(
        wb=wb,
        digest=digest,
        confirmation=confirmation,
        confirmed=confirmation is not None and confirmation.digest == digest,
        problems=problems(wb, path.name),
        review_rows=[(i, c) for i, c in rows if c.review],
        files=[(f, r, sum(1 for c in wb.for_file(f) if c.review)) for f, r in files.items()],
        targets=TARGETS,
        field_types=PIPEDRIVE_FIELD_TYPES,
        value_maps=[(vm, _value_choices(wb, vm)) for vm in wb.value_maps],
        activity_types=sorted({v for vm in wb.value_maps for v in vm.values.values()}),
        vocab=_vocab(),
        option_text=option_text,
        success_text=_success_text,
    )
    return context


def column_edit(form: FormData) -> ColumnEdit:
    """Read a column form; option rows with no name are dropped."""
    options: dict[str, Any] = {}
    keys, texts = form.getlist("opt_key"), form.getlist("opt_value")
    for key, text in zip(keys, texts, strict=False):
        key, text = str(key).strip(), str(text)
        if not key:
            continue
        if key in options:
            raise EditRefused(f"option {key!r} is given twice")
        options[key] = parse_option(key, text)
    choices = [c.strip() for c in str(form.get("custom_choices") or "").split(";") if c.strip()]
    return ColumnEdit(
        migrate=str(form.get("migrate") or "yes") != "no",
        target=str(form.get("target") or "") or None,
        field=str(form.get("field") or "") or None,
        transform=str(form.get("transform") or "").strip(),
        custom_name=str(form.get("custom_name") or ""),
        custom_type=str(form.get("custom_type") or "varchar"),
        custom_choices=choices,
        options=options,
    )


def _column_answer(c: ColumnMap, message: str) -> dict[str, Any]:
    return {
        "message": message,
        "review": c.review,
        "fields": {
            "label": c.label,
            "transform": c.transform,
            "success": _success_text(c),
            "reason": c.reason,
        },
        "failing": c.failing,
    }


_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}


class TokenGate:
    """Answers 403 to any request without the token in its path or from another host name
    (DNS rebinding), and adds headers that keep the page (and its token) to itself."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").rsplit(":", 1)[0].strip("[]")
        first = scope["path"].lstrip("/").split("/", 1)[0]
        if host not in _LOOPBACK_HOSTS or not secrets.compare_digest(
            first.encode(), self.token.encode()
        ):
            forbidden = Response(
                "403 forbidden: open the address `flitstack map review` printed\n",
                status_code=403,
                media_type="text/plain",
            )
            await forbidden(scope, receive, self._secured(send))
            return
        await self.app(scope, receive, self._secured(send))

    @staticmethod
    def _secured(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        return wrapped


def create_app(workbook: Path, token: str) -> ASGIApp:
    """The review page and its form handlers, behind the token gate."""
    base = f"/{token}/"

    def page(error: str | None = None, status: int = 200) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        html = render("map_review.html.j2", nonce=nonce, **page_context(workbook, token, error))
        csp = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src 'nonce-{nonce}'; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        )
        return HTMLResponse(html, status_code=status, headers={"content-security-policy": csp})

    async def show(request: Request) -> Response:
        return page()

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"http://{request.headers.get('host', '')}":
            return False
        return request.headers.get("sec-fetch-site", "same-origin") in {"same-origin", "none"}

    async def post(request: Request) -> Response:
        form = await request.form()
        sent = str(form.get("token") or "")
        if not same_origin(request) or not secrets.compare_digest(sent.encode(), token.encode()):
            refusal = "403 forbidden: the form's token is missing or wrong\n"
            return Response(refusal, 403, media_type="text/plain")
        wants_json = "application/json" in request.headers.get("accept", "")
        seen = str(form.get("digest") or "") or None
        anchor = ""
        try:
            kind = request.path_params["action"]
            if kind == "column" or kind == "keep":
                file, column = str(form.get("file") or ""), str(form.get("column") or "")
                if kind == "keep":
                    entry = keep_column(workbook, file, column, seen)
                    answer = _column_answer(entry, "kept as proposed")
                else:
                    before = workbook_digest(read_for_review(workbook))
                    entry = edit_column(workbook, file, column, column_edit(form), seen)
                    changed = workbook_digest(read_for_review(workbook)) != before
                    message = f"saved: {entry.label} · {entry.transform}"
                    answer = _column_answer(entry, message if changed else "nothing changed")
                anchor = f"#c-{_entry(read_for_review(workbook), file, column)[0]}"
            elif kind == "value-map":
                name = str(form.get("value_map") or "")
                sources, mapped = form.getlist("source"), form.getlist("value")
                values = {str(s): str(v).strip() for s, v in zip(sources, mapped, strict=False)}
                before = workbook_digest(read_for_review(workbook))
                edit_value_map(workbook, name, values, seen)
                changed = workbook_digest(read_for_review(workbook)) != before
                answer = {"message": f"saved value map {name}" if changed else "nothing changed"}
            elif kind == "confirm":
                c = confirm_reviewed(
                    workbook, str(form.get("name") or ""), seen,
                    protection_as_proposed=form.get("protection_as_proposed") == "yes",
                )  # fmt: skip
                answer = {
                    "message": f"confirmed by {c.confirmed_by}",
                    "confirmed_by": c.confirmed_by,
                    "confirmed_at": c.confirmed_at,
                    "review_items": c.review_items,
                }
                anchor = "#confirm"
            else:
                return Response("404 not found\n", 404, media_type="text/plain")
        except (EditRefused, WorkbookError) as exc:
            message = _one_line(str(exc))
            status = 409 if isinstance(exc, StaleWorkbook) else 400
            if wants_json:
                return JSONResponse({"ok": False, "error": message}, status_code=status)
            return page(message, status)
        if not wants_json:
            return RedirectResponse(base + anchor, status_code=303)
        wb = read_for_review(workbook)
        return JSONResponse(
            {
                **answer,
                "ok": True,
                "digest": workbook_digest(wb),
                "review_left": sum(1 for c in wb.columns if c.review),
            }
        )

    routes = [Route("/", show), Route("/{action}", post, methods=["POST"])]
    return TokenGate(Starlette(routes=[Mount(base.rstrip("/"), routes=routes)]), token)


@dataclass
class ReviewServer:
    """A running review page: its address (with the token) and the server behind it."""

    url: str
    token: str
    server: uvicorn.Server


@contextmanager
def serving_review(
    workbook: Path, port: int = 0, token: str | None = None
) -> Iterator[ReviewServer]:
    """Serve the review page on 127.0.0.1 (only) in a background thread for the block."""
    token = token or secrets.token_urlsafe(24)
    if not workbook.exists():
        raise WorkbookError(f"{workbook}: no mapping workbook here (run `flitstack map propose`)")
    app = create_app(workbook.resolve(), token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise BadInput(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            sock.close()
            raise RuntimeError("the review server did not start")
        time.sleep(0.01)
    bound = sock.getsockname()[1]
    try:
        yield ReviewServer(f"http://127.0.0.1:{bound}/{token}/", token, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
