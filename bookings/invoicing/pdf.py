"""An invoice as PDF: the template context (`invoice_context`), the HTML (`invoice_html`) and the xhtml2pdf render
(`html_to_pdf`, `render_html_to_file`).

Safety: the template escapes customer text, and its only resources are the app's own fonts and logo:
`static_link_callback` resolves those and nothing else, and `RESOURCE_POLICY` confines whatever xhtml2pdf reads to
the same directory with no network access. ReportLab runs in invariant mode (no timestamp or random document id),
so one HTML always gives the same bytes. Renders never run on the event loop: callers are sync views, which
Django runs in worker threads; the views go through `cache.invoice_pdf`, which limits them.
"""

import re
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.template.loader import render_to_string
from reportlab import rl_config
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from lebrq.exceptions import InvoiceRenderError
from lebrq.tempfiles import INVOICE_RENDER

from .. import gst
from ..models import Booking
from .document import Invoice, build_invoice

#: The directory the invoice template's fonts and logo live in; the only files a render may read.
ASSETS_DIR = (Path(__file__).resolve().parent.parent / "static" / "bookings").resolve()
#: What `static_link_callback` answers for anything it will not resolve: a name inside ASSETS_DIR that does not
#: exist, so the resource loads as "not found". (An empty answer would not do: xhtml2pdf then falls back to
#: the original URI.)
BLOCKED_RESOURCE = str(ASSETS_DIR / "blocked-resource")
_ASSET_SUFFIXES = frozenset({".ttf", ".png"})
#: xhtml2pdf's limits for untrusted markup, with local reads confined to ASSETS_DIR and no network at all. The
#: render time limit is raised from the preset's 60 s: a 2,000-line invoice takes about 20 s of CPU, and a busy
#: machine can stretch that past a minute (bench/invoices.py).
RESOURCE_POLICY = ResourceAccessPolicy.server(base_dir=ASSETS_DIR, allow_remote=False, max_render_seconds=300)

#: Item rows per <table>: xhtml2pdf lays out a table's rows in O(n²) (xhtml2pdf issue #208), so a long item list
#: is printed as consecutive tables of at most this many rows, each with its own header row.
ITEM_ROWS_PER_TABLE = 40
# Deterministic PDFs: no creation timestamp and a fixed document id, so one revision is always the same bytes
# (which a strong ETag promises). Only the invoices use ReportLab in this process.
rl_config.invariant = 1

_DATE_FORMAT = "%d %b %Y"
_DATETIME_FORMAT = "%d %b %Y, %I:%M %p %Z"

#: Font families of the Indian scripts a buyer's name or address may use (see `script_runs` and the README).
SCRIPT_FONT_FAMILIES = (
    (0x0900, 0x097F, "InvoiceDevanagari"),  # Devanagari (Hindi, Marathi, Sanskrit...)
    (0xA8E0, 0xA8FF, "InvoiceDevanagari"),  # Devanagari Extended
    (0x0B80, 0x0BFF, "InvoiceTamil"),
    (0x0D00, 0x0D7F, "InvoiceMalayalam"),
)
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ: part of whichever script run they sit in


def script_runs(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into ``(font_family, run)`` pairs for the PDF: ``font_family`` is the
    `SCRIPT_FONT_FAMILIES` family of a Devanagari, Tamil or Malayalam run, or "" for anything else (drawn with
    the body font). Whitespace and zero-width (non-)joiners stay in the run they follow.
    ``"Priya प्रिया"`` → ``[("", "Priya "), ("InvoiceDevanagari", "प्रिया")]``.
    """
    runs: list[list[str]] = []
    for char in text:
        if char.isspace() or char in _JOINERS:
            family = runs[-1][0] if runs else ""
        else:
            code = ord(char)
            family = next((name for low, high, name in SCRIPT_FONT_FAMILIES if low <= code <= high), "")
        if runs and runs[-1][0] == family:
            runs[-1][1] += char
        else:
            runs.append([family, char])
    return [(family, run) for family, run in runs]


#: Longest run of characters without a space that the PDF prints unbroken; xhtml2pdf breaks lines at spaces only,
#: so a longer "word" (a pasted URL, a 2,000-character string) would run off the page.
MAX_WORD_CHARACTERS = 24
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD_CHARACTERS + 1},}}")


def wrap_long_words(text: str) -> str:
    """``text`` with every run of more than `MAX_WORD_CHARACTERS` non-space characters cut by a space after each
    `MAX_WORD_CHARACTERS` characters, so that the PDF can wrap it inside its column; other text is unchanged."""

    def cut(match: re.Match) -> str:
        word = match.group()
        return " ".join(word[i : i + MAX_WORD_CHARACTERS] for i in range(0, len(word), MAX_WORD_CHARACTERS))

    return _LONG_WORD.sub(cut, text)


def _chunks(rows: list, size: int) -> list[list]:
    return [rows[start : start + size] for start in range(0, len(rows), size)] or [[]]


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    """The template context for ``invoice``: the invoice itself plus every amount, date and rate as display text.

    ``row_chunks`` holds the item rows in lists of at most `ITEM_ROWS_PER_TABLE`, one <table> each;
    ``buyer_name_runs`` and ``buyer_address_runs`` are `script_runs` of the buyer's name and address; customer
    text (line descriptions, buyer, note, event type) has its long words cut (`wrap_long_words`).
    """
    totals = invoice.totals
    money = gst.format_inr
    rows = [
        {
            "number": number,
            "description": wrap_long_words(line.description),
            "hsn_sac": line.hsn_sac,
            "quantity": gst.format_quantity(line.quantity),
            "rate": money(line.rate),
            "taxable_value": money(value),
        }
        for number, (line, value) in enumerate(zip(totals.lines, totals.line_taxable_values, strict=True), start=1)
    ]
    if totals.intra_state:
        taxes = [
            (f"CGST @ {gst.format_quantity(totals.cgst_rate)}%", money(totals.cgst)),
            (f"SGST @ {gst.format_quantity(totals.sgst_rate)}%", money(totals.sgst)),
        ]
    else:
        taxes = [(f"IGST @ {gst.format_quantity(totals.igst_rate)}%", money(totals.igst))]
    return {
        "invoice": invoice,
        "rows": rows,
        "row_chunks": _chunks(rows, ITEM_ROWS_PER_TABLE),
        "buyer_name_runs": script_runs(wrap_long_words(invoice.buyer["name"])),
        "buyer_address_runs": script_runs(wrap_long_words(invoice.buyer["address"])),
        "buyer_email": wrap_long_words(invoice.buyer["email"]),
        "buyer_phone": wrap_long_words(invoice.buyer["phone"]),
        "customer_note": wrap_long_words(invoice.customer_note),
        "event_type": wrap_long_words(invoice.event_type),
        "taxes": taxes,
        "taxable_value": money(totals.taxable_value),
        "round_off": money(totals.round_off, signed=True),
        "grand_total": money(totals.grand_total),
        "amount_paid": money(totals.amount_paid),
        "balance_due": money(totals.balance_due),
        "issued_on": invoice.issued_at.strftime(_DATE_FORMAT),
        "booked_on": invoice.booked_at.strftime(_DATE_FORMAT),
        "event_start": invoice.event_start.strftime(_DATETIME_FORMAT),
        "event_end": invoice.event_end.strftime(_DATETIME_FORMAT),
    }


def invoice_html(booking: Booking, now: datetime | None = None) -> str:
    """The invoice of ``booking`` as the HTML that xhtml2pdf turns into the PDF (see `build_invoice`)."""
    return render_to_string("bookings/invoice.html", invoice_context(build_invoice(booking, now=now)))


def static_link_callback(uri: str, rel: str | None = None) -> str:
    """Resolve a template resource for xhtml2pdf: a font or the logo of this app's static dir, and nothing else.

    ``uri`` is what the template wrote, e.g. ``"/assets/bookings/fonts/DejaVuSans.ttf"`` (settings.STATIC_URL +
    ``"bookings/..."``). Returns the absolute path of an existing ``.ttf``/``.png`` file inside `ASSETS_DIR`;
    anything else — another scheme or host, ``/etc/passwd``, ``..`` or a symlink out — gets `BLOCKED_RESOURCE`.
    ``rel`` (the base xhtml2pdf would resolve against) is ignored.
    """
    if not isinstance(uri, str):
        return BLOCKED_RESOURCE
    name = uri.removeprefix(settings.STATIC_URL)
    if name == uri or not name.startswith("bookings/") or "\\" in name or "\x00" in name:
        return BLOCKED_RESOURCE
    try:
        candidate = (ASSETS_DIR / name.removeprefix("bookings/")).resolve()
    except (OSError, ValueError):
        return BLOCKED_RESOURCE
    if candidate.is_relative_to(ASSETS_DIR) and candidate.suffix in _ASSET_SUFFIXES and candidate.is_file():
        return str(candidate)
    return BLOCKED_RESOURCE


def html_to_pdf(html: str, dest: BinaryIO) -> None:
    """Render ``html`` as PDF into the open binary file ``dest``, reading resources only via the static callback.

    Raises `InvoiceRenderError` if xhtml2pdf raises or reports errors (``dest`` may then hold partial output).
    xhtml2pdf 0.2.28 holds a process-wide lock for a whole conversion, so renders in one process run one at a time.
    """
    try:
        status = pisa.CreatePDF(
            html, dest=dest, encoding="utf-8", link_callback=static_link_callback, resource_policy=RESOURCE_POLICY
        )
    except Exception as exc:
        raise InvoiceRenderError(f"Rendering the invoice PDF failed: {exc}") from exc
    if status.err:
        raise InvoiceRenderError(f"Rendering the invoice PDF failed with {status.err} error(s).")


def render_html_to_file(html: str, directory: Path) -> Path:
    """Render ``html`` into a new `lebrq.tempfiles.INVOICE_RENDER` file (``.render-*.pdf``) in ``directory``
    (created if missing) and return its path; on any failure the file is removed."""
    path: Path | None = None
    try:
        with INVOICE_RENDER.create(directory) as handle:
            path = Path(handle.name)
            html_to_pdf(html, handle)
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    return path


def render_invoice_pdf(booking: Booking, directory: str | Path | None = None, now: datetime | None = None) -> Path:
    """Render the invoice of ``booking`` to a new PDF file and return its path; the caller removes the file.
    (Uncached and unlimited: the views use `cache.invoice_pdf`.)

    The file is an `lebrq.tempfiles.INVOICE_RENDER` file in ``directory`` (default
    settings.FILE_UPLOAD_TEMP_DIR, created if missing). Raises `InvoiceNotAvailable` (no file is made) for a
    cancelled or rejected booking, and `InvoiceRenderError` (or whatever interrupted the render) after removing
    the file if rendering fails.
    """
    html = invoice_html(booking, now=now)
    return render_html_to_file(html, Path(directory or settings.FILE_UPLOAD_TEMP_DIR))
