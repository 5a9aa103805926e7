"""The consent and access log: filter, page, open one entry, export the filtered set.

Officers see what the ledger holds (pseudonymous ids, app ids, scope and field names) and never
a vault value: nothing here reads the vault. Each view is recorded after its query ran, so a page
does not list its own ``officer_view`` entry.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace

from flask import Response, abort, render_template, request, stream_with_context
from flask_babel import lazy_gettext as _l

from consent import ledger, reports
from consent.ledger import ENTRY_TYPES
from consent.scopes import SCOPES
from vault.clock import utcnow
from vendor_api.context import get_db

from ..customer.labels import event_label
from ..paging import row_id
from . import forms
from .blueprint import bp, officer_page, record_view

PAGE = 50
ROLE_LABELS = {"customer": _l("the customer"), "vendor": _l("the vendor"), "officer": _l("a privacy officer"),
               "system": _l("the vault")}
#: A spreadsheet runs cells starting with these as formulas: such text is exported quoted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _filters(apps: dict[str, str]) -> forms.Parsed:
    return forms.log_filter(request.args, apps)


def _page(parsed: forms.Parsed, apps: dict[str, str], page=None, status: int = 200):
    return render_template("privacy/log.html", parsed=parsed, apps=apps, page=page, args=_query_args(parsed),
                           type_choices=[(t, event_label(t)) for t in ENTRY_TYPES],
                           scope_choices=[(s, s) for s in SCOPES], role_labels=ROLE_LABELS), status


def _query_args(parsed: forms.Parsed) -> dict:
    """The filter as URL arguments, for paging and export links (empty ones left out)."""
    return {k: v for k, v in parsed.state.items() if v}


@bp.route("/")
@officer_page
def log():
    db = get_db()
    apps = reports.app_names(db)
    parsed = _filters(apps)
    if parsed.filter is None:
        return _page(parsed, apps, status=422)
    before, after = request.args.get("before", type=row_id), request.args.get("after", type=row_id)
    result = reports.page(db, parsed.filter, before_id=before, after_id=after, limit=PAGE)
    record_view("log", chain=parsed.filter.chain,
                details={**parsed.filter.details(), "before": before, "after": after,
                         "shown": len(result.entries)})
    return _page(parsed, apps, result)


@bp.route("/entries/<int:entry_id>")
@officer_page
def entry(entry_id: int):
    db = get_db()
    row = reports.get_entry(db, entry_id)
    if row is None:
        abort(404)
    check = ledger.verify(db, chain=row.chain)
    apps = reports.app_names(db, [row.vendor_app])
    record_view("entry", chain=row.chain, details={"entry": row.id, "entry_chain": row.chain, "seq": row.seq})
    return render_template("privacy/entry.html", e=row, data=row.data, apps=apps, check=check,
                           canonical=bytes(row.canonical).decode("utf-8"))


def _cell(value) -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif value is None:
        value = ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv(rows: Iterator[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(reports.EXPORT_COLUMNS)
    for i, row in enumerate(rows, 1):
        writer.writerow([_cell(row[c]) for c in reports.EXPORT_COLUMNS])
        if i % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json(rows: Iterator[dict], head: dict) -> Iterator[str]:
    opening = json.dumps(head, ensure_ascii=False, sort_keys=True)[:-1]
    yield opening + ', "entries": ['
    for i, row in enumerate(rows):
        yield ("," if i else "") + "\n" + json.dumps(row, ensure_ascii=False, sort_keys=True)
    yield "\n]}\n"


@bp.route("/export.<fmt>")
@officer_page
def export(fmt: str):
    """The filtered set, streamed in keyset batches (any size, flat memory), as a file named by date.

    The set ends at the moment of the request, so the export's own ``officer_view`` entry (and
    anything appended while it streams) is not in it.
    """
    if fmt not in ("csv", "json"):
        abort(404)
    db = get_db()
    parsed = _filters(reports.app_names(db))
    if parsed.filter is None:
        abort(400)
    now = utcnow()
    f = replace(parsed.filter, end=min(parsed.filter.end, now) if parsed.filter.end else now)
    record_view("export", chain=f.chain, details={**parsed.filter.details(), "format": fmt}, now=now)
    rows = reports.iter_filtered(db, f)
    name = f"vrm-ledger-{now.date().isoformat()}.{fmt}"
    if fmt == "csv":
        body, mimetype = _csv(rows), "text/csv"
    else:
        head = {"exported_at": now.isoformat(), "filter": parsed.filter.details()}
        body, mimetype = _json(rows, head), "application/json"
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
