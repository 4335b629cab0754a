"""Invoice content, the rendered PDF's text, resource confinement and clean-up on failure."""

import io
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pypdf
import pytest
from django.conf import settings
from django.template.loader import render_to_string
from xhtml2pdf import files as xhtml2pdf_files
from xhtml2pdf.config.resources import ResourceAccessError

from bookings.invoicing import pdf
from bookings.invoicing.document import PROFORMA_INVOICE, TAX_INVOICE, build_invoice
from bookings.invoicing.pdf import ASSETS_DIR, invoice_context, render_invoice_pdf, static_link_callback
from bookings.models import Booking, Payment, Space, Venue
from lebrq.exceptions import InvoiceNotAvailable, InvoiceRenderError

BEFORE_EVENT = datetime(2030, 1, 1, tzinfo=UTC)
AFTER_EVENT = datetime(2030, 4, 1, tzinfo=UTC)
ITEMS = [("Projector & screen", "998596", 1, D("1500.00")), ("Veg buffet (per plate)", "996334", 120, D("450.00"))]
HOSTILE_NOTE = 'Stage please.\n<img src="/etc/passwd"> <b>x</b> <img src="http://169.254.169.254/latest/meta-data/">'


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


@pytest.fixture
def hall(db):
    """The space of this module's bookings (`make_booking` uses it): 2,500/h, so that the sums below are round."""
    venue = Venue.objects.create(name="Marine Drive Hall", city="Kochi", state="Kerala")
    return Space.objects.create(venue=venue, name="Main Hall", capacity=200, price_per_hour=D("2500.00"))


@pytest.fixture
def out_dir(tmp_path):
    """A directory for rendered PDFs that does not exist yet (render_invoice_pdf creates it)."""
    return tmp_path / "out"


@pytest.fixture
def booking(make_booking):
    # 10:00–14:00 IST, 4 h × 2,500 = 10,000; + 1,500 + 54,000 = 65,500 taxable; 9 % = 5,895 each; 77,290 total.
    return make_booking(
        items=ITEMS,
        paid=[D("20000.00"), D("5000.00")],
        customer_note=HOSTILE_NOTE,
        attendees=120,
        event_type="Wedding reception",
    )


@pytest.mark.django_db
def test_build_invoice_lines_and_totals(booking):
    Payment.objects.create(booking=booking, amount=D("99999"), status=Payment.Status.FAILED)
    inv = build_invoice(booking, now=BEFORE_EVENT)
    totals = inv.totals
    assert inv.title == PROFORMA_INVOICE
    assert [(line.description.split(":")[0], line.hsn_sac, line.quantity, line.rate) for line in totals.lines] == [
        ("Venue rental", settings.SAC_VENUE_RENTAL, D(4), D("2500.00")),
        ("Projector & screen", "998596", D(1), D("1500.00")),
        ("Veg buffet (per plate)", "996334", D(120), D("450.00")),
    ]
    assert totals.line_taxable_values == (D("10000.00"), D("1500.00"), D("54000.00"))
    assert totals.taxable_value == D("65500.00")
    assert totals.intra_state
    assert (totals.cgst, totals.sgst, totals.igst) == (D("5895.00"), D("5895.00"), D("0.00"))
    assert totals.grand_total == D("77290.00")
    assert totals.amount_paid == D("25000.00")  # the failed payment does not count
    assert totals.balance_due == D("52290.00")
    assert inv.amount_in_words == "Rupees Seventy Seven Thousand Two Hundred Ninety Only"
    assert inv.seller == settings.INVOICE_SELLER
    assert inv.buyer == {"name": "Asha Menon", "phone": "", "email": "asha@example.com", "address": "", "gstin": ""}
    assert inv.invoice_number is None
    assert inv.place_of_supply == f"{settings.INVOICE_SELLER['state']} ({settings.INVOICE_SELLER['state_code']})"
    assert str(inv.event_start.tzinfo) == settings.TIME_ZONE
    assert invoice_context(inv)["event_start"] == "14 Mar 2030, 10:00 AM IST"


@pytest.mark.django_db
def test_fractional_hours_and_username_fallback(make_booking, customer):
    customer.first_name = customer.last_name = ""
    customer.save()
    # 10:00–11:20 IST: 4/3 h × 2,500 = 3,333.333… → 3,333.33
    booking = make_booking(end=datetime(2030, 3, 14, 5, 50, tzinfo=UTC))
    inv = build_invoice(booking, now=BEFORE_EVENT)
    assert inv.totals.line_taxable_values == (D("3333.33"),)
    assert invoice_context(inv)["rows"][0]["quantity"] == "1.3333"
    assert inv.buyer["name"] == "asha"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "now", "title"),
    [
        (Booking.Status.PENDING, BEFORE_EVENT, PROFORMA_INVOICE),
        (Booking.Status.APPROVED, BEFORE_EVENT, PROFORMA_INVOICE),
        (Booking.Status.CONFIRMED, BEFORE_EVENT, PROFORMA_INVOICE),
        (Booking.Status.PAID, BEFORE_EVENT, PROFORMA_INVOICE),
        (Booking.Status.CONFIRMED, datetime(2030, 3, 14, 4, 30, tzinfo=UTC), TAX_INVOICE),  # at the start
        (Booking.Status.PAID, AFTER_EVENT, TAX_INVOICE),
        (Booking.Status.PENDING, AFTER_EVENT, PROFORMA_INVOICE),  # not yet a confirmed supply
        (Booking.Status.APPROVED, AFTER_EVENT, PROFORMA_INVOICE),
        (Booking.Status.COMPLETED, AFTER_EVENT, TAX_INVOICE),
        (Booking.Status.COMPLETED, BEFORE_EVENT, TAX_INVOICE),
    ],
)
def test_document_title(make_booking, status, now, title):
    assert build_invoice(make_booking(status=status), now=now).title == title


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Booking.Status.CANCELLED, Booking.Status.REJECTED])
def test_no_invoice_for_cancelled_or_rejected(make_booking, out_dir, status):
    booking = make_booking(status=status)
    with pytest.raises(InvoiceNotAvailable):
        build_invoice(booking)
    with pytest.raises(InvoiceNotAvailable):
        render_invoice_pdf(booking, directory=out_dir)
    assert not out_dir.exists()  # refused before any file or directory is made


@pytest.mark.django_db
def test_proforma_pdf_text(booking, out_dir):
    path = render_invoice_pdf(booking, directory=out_dir, now=BEFORE_EVENT)
    assert path.parent == out_dir
    assert path.suffix == ".pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    text = pdf_text(path)
    assert PROFORMA_INVOICE in text
    assert TAX_INVOICE not in text.replace("not a tax invoice", "")
    assert booking.booking_reference in text
    assert settings.INVOICE_SELLER["gstin"] in text
    assert "CGST @ 9%" in text
    assert "SGST @ 9%" in text
    assert "IGST" not in text
    assert "₹77,290.00" in text
    assert "₹65,500.00" in text
    assert "₹52,290.00" in text
    assert "Rupees Seventy Seven Thousand Two Hundred Ninety Only" in text
    assert "Asha Menon" in text


@pytest.mark.django_db
def test_tax_invoice_pdf_for_a_past_confirmed_booking(make_booking, out_dir):
    booking = make_booking(start=datetime(2024, 3, 14, 4, 30, tzinfo=UTC), end=datetime(2024, 3, 14, 8, 30, tzinfo=UTC))
    text = pdf_text(render_invoice_pdf(booking, directory=out_dir))
    assert TAX_INVOICE in text
    assert PROFORMA_INVOICE not in text
    assert "₹11,800.00" in text  # 10,000 + 900 + 900


@pytest.mark.django_db
def test_customer_text_is_escaped_and_loads_nothing(booking, out_dir, monkeypatch):
    html = render_to_string("bookings/invoice.html", invoice_context(build_invoice(booking, now=BEFORE_EVENT)))
    assert "&lt;img src=&quot;/etc/passwd&quot;&gt; &lt;b&gt;x&lt;/b&gt;" in html
    assert '<img src="/etc/passwd">' not in html

    resolved = []

    def spy(uri, rel=None):
        resolved.append((uri, static_link_callback(uri, rel)))
        return resolved[-1][1]

    monkeypatch.setattr(pdf, "static_link_callback", spy)
    text = pdf_text(render_invoice_pdf(booking, directory=out_dir, now=BEFORE_EVENT))
    assert '<img src="/etc/passwd"> <b>x</b>' in text
    assert "169.254.169.254" in text.replace(" ", "")  # printed as text (its long "word" wrapped)
    # Only the template's own fonts and logo were asked for, and each resolved inside the assets directory.
    assert {uri for uri, _ in resolved} == {
        f"{settings.STATIC_URL}bookings/{name}"
        for name in [
            "fonts/DejaVuSans.ttf",
            "fonts/DejaVuSans-Bold.ttf",
            "fonts/NotoSansDevanagari-Regular.ttf",
            "fonts/NotoSansTamil-Regular.ttf",
            "fonts/NotoSansMalayalam-Regular.ttf",
            "logo.png",
        ]
    }
    assert all(Path(path).is_relative_to(ASSETS_DIR) and Path(path).is_file() for _, path in resolved)


def test_hostile_markup_fetches_nothing(monkeypatch):
    """Even markup that did reach xhtml2pdf unescaped reads no file outside the assets and opens no connection."""
    handed_to_fetchers = []
    get_manager = xhtml2pdf_files.FileNetworkManager.get_manager

    def spy(uri, basepath=None, policy=None):
        handed_to_fetchers.append(uri)
        return get_manager(uri, basepath, policy)

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(xhtml2pdf_files.FileNetworkManager, "get_manager", staticmethod(spy))
    monkeypatch.setattr(xhtml2pdf_files.NetworkFileUri, "_request", no_network)
    monkeypatch.setattr("socket.getaddrinfo", no_network)
    html = (
        '<html><head><link rel="stylesheet" href="http://169.254.169.254/x.css"></head><body>'
        '<img src="/etc/passwd"><img src="http://169.254.169.254/latest/meta-data/">'
        '<img src="file:///etc/passwd"><img src="../../../../etc/passwd">'
        '<p style="background-image: url(/etc/passwd)">x</p></body></html>'
    )
    pdf.html_to_pdf(html, io.BytesIO())
    assert handed_to_fetchers
    assert set(handed_to_fetchers) == {pdf.BLOCKED_RESOURCE}


@pytest.mark.parametrize(
    "uri",
    [
        "/etc/passwd",
        "file:///etc/passwd",
        "http://169.254.169.254/",
        "https://lebrq.example/assets/bookings/logo.png",
        "//169.254.169.254/x.png",
        "",
        "data:image/png;base64,iVBORw0KGgo=",
        "bookings/logo.png",
        "/assets/admin/css/base.css",
        "/assets/bookings/../../../../../etc/passwd",
        "/assets/bookings/fonts/../../../models.py",
        "/assets/bookings/%2e%2e/%2e%2e/models.py",
        "/assets/bookings/fonts/LICENSE",
        "/assets/bookings/missing.png",
        "/assets/bookings/fonts\\..\\..\\models.py",
        "/assets/bookings/logo.png\x00.txt",
    ],
)
def test_link_callback_refuses_everything_else(uri):
    result = static_link_callback(uri, None)
    assert result == pdf.BLOCKED_RESOURCE
    assert not Path(result).exists()
    assert Path(result).resolve().is_relative_to(ASSETS_DIR)


@pytest.mark.parametrize("name", ["fonts/DejaVuSans.ttf", "fonts/DejaVuSans-Bold.ttf", "logo.png"])
def test_link_callback_resolves_own_assets(name):
    assert static_link_callback(f"{settings.STATIC_URL}bookings/{name}", None) == str(ASSETS_DIR / name)


def test_resource_policy_confines_reads_and_forbids_network():
    with pytest.raises(ResourceAccessError):
        pdf.RESOURCE_POLICY.check_path("/etc/passwd")
    with pytest.raises(ResourceAccessError):
        pdf.RESOURCE_POLICY.check_url("http://169.254.169.254/latest/meta-data/")
    pdf.RESOURCE_POLICY.check_path(ASSETS_DIR / "logo.png")
    assert pdf.RESOURCE_POLICY.max_render_seconds == 300  # a 2,000-line invoice on a busy machine
    assert pdf.RESOURCE_POLICY.max_document_bytes == 10 * 1024 * 1024


def test_shipped_assets():
    assert (ASSETS_DIR / "fonts" / "LICENSE").read_text().count("Bitstream") >= 1
    assert (ASSETS_DIR / "logo.png").stat().st_size < 10 * 1024


@pytest.mark.django_db
def test_rupee_sign_is_drawn_with_the_embedded_font(booking, out_dir):
    path = render_invoice_pdf(booking, directory=out_dir, now=BEFORE_EVENT)
    assert "₹" in pdf_text(path)
    fonts = set()
    for page in pypdf.PdfReader(path).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if "/FontDescriptor" in font and "/FontFile2" in font["/FontDescriptor"]:
                fonts.add(str(font["/BaseFont"]).split("+")[-1])
    assert {"DejaVuSans", "DejaVuSans-Bold"} <= fonts


class FailedStatus:
    err = 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (RuntimeError("boom"), InvoiceRenderError),
        (FailedStatus(), InvoiceRenderError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_temp_file_is_removed_when_rendering_fails(booking, out_dir, monkeypatch, failure, raised):
    def create_pdf(html, dest, **kwargs):
        dest.write(b"%PDF-1.4 partial")
        if isinstance(failure, BaseException):
            raise failure
        return failure

    monkeypatch.setattr(pdf.pisa, "CreatePDF", create_pdf)
    with pytest.raises(raised):
        render_invoice_pdf(booking, directory=out_dir, now=BEFORE_EVENT)
    assert list(out_dir.iterdir()) == []


@pytest.mark.django_db
def test_default_directory_is_the_upload_temp_dir(booking, out_dir, settings):
    settings.FILE_UPLOAD_TEMP_DIR = str(out_dir / "spool")
    path = render_invoice_pdf(booking, now=BEFORE_EVENT)
    assert path.parent == out_dir / "spool"
    path.unlink()


# --- Buyer block, invoice number, long tables, Indian scripts -------------------------------------------

BUYER_GSTIN = "27AAPFU0939F1ZV"


@pytest.mark.django_db
def test_tax_invoice_pdf_carries_number_buyer_and_gstins(make_booking, out_dir, settings):
    booking = make_booking(items=ITEMS, paid=[D("20000.00")])
    Booking.objects.filter(pk=booking.pk).update(
        billing_name="Menon Events LLP",
        billing_phone="+91 98470 12345",
        billing_email="accounts@menon.example",
        billing_address="4th Floor, Palm Towers\nMarine Drive, Kochi 682031",
        billing_gstin=BUYER_GSTIN,
    )
    booking.refresh_from_db()
    text = pdf_text(render_invoice_pdf(booking, directory=out_dir, now=AFTER_EVENT))
    assert TAX_INVOICE in text
    assert "Invoice no.: LB/30-31/000001" in text
    assert text.count("LB/30-31/000001") == 2  # the reference box and the page footer
    assert "Invoice date: 01 Apr 2030" in text
    assert booking.booking_reference in text
    assert f"GSTIN: {settings.INVOICE_SELLER['gstin']}" in text
    assert f"GSTIN: {BUYER_GSTIN}" in text
    for printed in [
        "Menon Events LLP",
        "4th Floor, Palm Towers",
        "Marine Drive, Kochi 682031",
        "+91 98470 12345 · accounts@menon.example",
        "Place of supply: Kerala (32)",
        "CGST @ 9%",
        "SGST @ 9%",
        "₹5,895.00",
        "Grand total",
        "₹77,290.00",
        "Amount paid",
        "₹20,000.00",
        "Balance due",
        "₹57,290.00",
        "Rupees Seventy Seven Thousand Two Hundred Ninety Only",
    ]:
        assert printed in text, printed
    assert "Asha Menon" not in text  # the billing name replaces the account name
    # The second download is the same document: same number, same date.
    again = pdf_text(render_invoice_pdf(Booking.objects.get(pk=booking.pk), directory=out_dir, now=AFTER_EVENT))
    assert "Invoice no.: LB/30-31/000001" in again


@pytest.mark.django_db
def test_proforma_has_no_invoice_number_and_an_unregistered_buyer(booking):
    html = render_to_string("bookings/invoice.html", invoice_context(build_invoice(booking, now=BEFORE_EVENT)))
    assert "Invoice no." not in html
    assert "GSTIN: unregistered" in html
    assert "Asha Menon" in html
    assert "Wedding reception · 120 attendees" in html


def test_script_runs():
    assert pdf.script_runs("") == []
    assert pdf.script_runs("Asha Menon") == [("", "Asha Menon")]
    assert pdf.script_runs("Priya प्रियंका") == [("", "Priya "), ("InvoiceDevanagari", "प्रियंका")]
    assert pdf.script_runs("கார்த்திகேயன் ஸ்ரீநிவாசன், Chennai") == [
        ("InvoiceTamil", "கார்த்திகேயன் ஸ்ரீநிவாசன்"),
        ("", ", Chennai"),
    ]
    assert pdf.script_runs("ശ്രീ\u200dലക്ഷ്മി 12") == [("InvoiceMalayalam", "ശ്രീ\u200dലക്ഷ്മി "), ("", "12")]
    assert pdf.script_runs(" क ") == [("", " "), ("InvoiceDevanagari", "क ")]


@pytest.mark.django_db
def test_indian_script_names_are_embedded_in_their_fonts(make_booking, out_dir):
    booking = make_booking()
    Booking.objects.filter(pk=booking.pk).update(
        billing_name="प्रियंका மீனா ശ്രീലക്ഷ്മി", billing_address="<b>Gandhi Nagar</b>"
    )
    booking.refresh_from_db()
    path = render_invoice_pdf(booking, directory=out_dir, now=BEFORE_EVENT)
    text = pdf_text(path)
    # The text layer keeps the logical order (the glyphs are drawn unshaped: see the README).
    assert "प्रियंका" in text
    assert "மீனா" in text
    assert "ശ്രീലക്ഷ്മി" in text
    assert "<b>Gandhi Nagar</b>" in text  # escaped, printed as typed
    fonts = set()
    for page in pypdf.PdfReader(path).pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    assert {"NotoSansDevanagari-Regular", "NotoSansTamil-Regular", "NotoSansMalayalam-Regular"} <= fonts


@pytest.mark.django_db
def test_long_item_lists_are_split_into_tables(make_booking):
    rows = [(f"Item {number}", "996334", 1, D("10.00")) for number in range(1, 86)]
    booking = make_booking(items=rows)
    context = invoice_context(build_invoice(booking, now=BEFORE_EVENT))
    assert [len(chunk) for chunk in context["row_chunks"]] == [40, 40, 6]  # 85 items + the rental line
    assert [row["number"] for chunk in context["row_chunks"] for row in chunk] == list(range(1, 87))
    html = render_to_string("bookings/invoice.html", context)
    assert html.count('<table class="lines"') == 3
    assert html.count(">Taxable value</th>") == 3  # each table has its header row


def test_shipped_script_fonts_and_their_licence():
    licence = (ASSETS_DIR / "fonts" / "LICENSE-Noto.txt").read_text()
    assert "SIL OPEN FONT LICENSE" in licence
    assert "Version 1.1" in licence
    sizes = {name: (ASSETS_DIR / "fonts" / f"NotoSans{name}-Regular.ttf").stat().st_size for name in SCRIPTS}
    assert all(size < 200 * 1024 for size in sizes.values()), sizes  # subsets, not the full fonts


SCRIPTS = ["Devanagari", "Tamil", "Malayalam"]
