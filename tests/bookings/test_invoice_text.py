"""Customer text on the invoice: characters beyond the BMP are refused at input (400), long words wrap."""

import re
from datetime import timedelta
from decimal import Decimal

import pypdf
import pytest

from bookings import services
from bookings.invoicing.pdf import MAX_WORD_CHARACTERS, render_invoice_pdf, wrap_long_words
from bookings.models import Booking

pytestmark = pytest.mark.django_db


def text_runs(path) -> list[str]:
    """Every piece of text the PDF shows, as its text layer gives it back."""
    runs = []
    for page in pypdf.PdfReader(path).pages:
        page.extract_text(visitor_text=lambda text, *args: runs.append(text))
    return runs


def payload(space, start, **extra):
    return {
        "space_id": space.id,
        "start_datetime": start.isoformat(),
        "end_datetime": (start + timedelta(hours=2)).isoformat(),
        "attendees": 10,
        **extra,
    }


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"customer_note": "Cake 🎂 at six"}, "customer_note"),
        ({"event_type": "Party 🎉"}, "event_type"),
        ({"custom_items": [{"name": "Flowers 💐", "quantity": 1, "unit_price": "10.00"}]}, "custom_items"),
        ({"customer_note": "𝐁𝐨𝐥𝐝 maths letters"}, "customer_note"),
    ],
)
def test_characters_beyond_the_bmp_are_refused_at_create(customer_api, hall, in_two_days_10am, extra, field):
    response = customer_api.post("/api/bookings", payload(hall, in_two_days_10am, **extra), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unsupported_character"
    assert list(response.json()["detail"]) == [field]
    assert "cannot be printed on the invoice" in response.json()["message"]
    assert Booking.objects.count() == 0


def test_characters_beyond_the_bmp_are_refused_in_billing(customer_api, hall, in_two_days_10am):
    created = customer_api.post("/api/bookings", payload(hall, in_two_days_10am), format="json").json()
    url = f"/api/bookings/{created['id']}/billing"
    response = customer_api.patch(url, {"billing_name": "Asha 😀", "billing_address": "Kochi"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "unsupported_character")
    assert list(response.json()["detail"]) == ["billing_name"]
    assert Booking.objects.get().billing_address == ""
    accepted = customer_api.patch(url, {"billing_name": "आशा மேனன் ആശ", "billing_address": "Kochi"}, format="json")
    assert accepted.status_code == 200


def test_wrap_long_words_cuts_only_long_runs():
    assert wrap_long_words("a short note") == "a short note"
    assert wrap_long_words("x" * 50 + " end") == "x" * 24 + " " + "x" * 24 + " xx end"


def test_a_2000_character_word_wraps_inside_the_page(customer, hall, in_two_days_10am, tmp_path):
    word = "W" * 200  # the longest line name; the note takes 2,000 characters
    booking = services.create_booking(
        customer=customer,
        space_id=hall.pk,
        start=in_two_days_10am,
        end=in_two_days_10am + timedelta(hours=2),
        attendees=1,
        items=[],
        custom_items=[services.CustomLine(name=word, quantity=1, unit_price=Decimal(1))],
        customer_note="N" * 2000,
    )
    runs = text_runs(render_invoice_pdf(booking, tmp_path))
    longest = max(len(token) for run in runs for token in run.split())
    assert longest <= MAX_WORD_CHARACTERS
    assert sum(run.count("W") for run in runs) >= 200
    assert sum(run.count("N") for run in runs) >= 2000
    assert all(re.fullmatch(r"W{1,24}", token) for run in runs for token in run.split() if token.startswith("WW"))
