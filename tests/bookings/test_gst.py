"""GST maths against invoices computed by hand. Every amount is an exact `Decimal`."""

from decimal import Decimal as D

import pytest
from django.conf import settings

from bookings.gst import InvoiceLine, amount_in_words, compute_totals, format_inr, format_quantity

KERALA, TAMIL_NADU = "32", "33"


def single_line(rate: D, place: str = KERALA):
    """Totals of a one-line invoice at 18 % from a Kerala seller."""
    return compute_totals(
        [InvoiceLine("x", "", 1, rate)], seller_state_code=KERALA, place_of_supply_state_code=place, rate_percent=18
    )


def lines_with_zero_and_free():
    return [
        InvoiceLine("Hall rental, 4 hours", "997212", D(4), D("2500.00")),  # 10,000.00
        InvoiceLine("Projector", "998596", 1, D("1500.00")),  # 1,500.00
        InvoiceLine("Extra chairs (none taken)", "997212", 0, D("25.00")),  # 0-value line
        InvoiceLine("Welcome drink, complimentary", "996334", 50, D("40.00"), discount=D("2000.00")),  # 100 % off
    ]


def test_intra_state_invoice_splits_cgst_and_sgst():
    totals = compute_totals(
        lines_with_zero_and_free(),
        seller_state_code=KERALA,
        place_of_supply_state_code=KERALA,
        rate_percent=18,
        amount_paid=D("5000"),
    )
    assert totals.line_taxable_values == (D("10000.00"), D("1500.00"), D("0.00"), D("0.00"))
    assert totals.taxable_value == D("11500.00")
    assert totals.intra_state
    assert (totals.cgst_rate, totals.sgst_rate, totals.igst_rate) == (D(9), D(9), D(0))
    assert (totals.cgst, totals.sgst, totals.igst) == (D("1035.00"), D("1035.00"), D("0.00"))
    assert totals.total_tax == D("2070.00")
    assert totals.total_before_round_off == D("13570.00")
    assert totals.round_off == D("0.00")
    assert totals.grand_total == D("13570.00")
    assert totals.amount_paid == D("5000.00")
    assert totals.balance_due == D("8570.00")


def test_inter_state_invoice_charges_igst():
    totals = compute_totals(
        lines_with_zero_and_free(), seller_state_code=KERALA, place_of_supply_state_code=TAMIL_NADU, rate_percent=18
    )
    assert not totals.intra_state
    assert (totals.cgst_rate, totals.sgst_rate, totals.igst_rate) == (D(0), D(0), D(18))
    assert (totals.cgst, totals.sgst, totals.igst) == (D("0.00"), D("0.00"), D("2070.00"))
    assert totals.grand_total == D("13570.00")
    assert totals.balance_due == D("13570.00")


def test_rate_defaults_to_settings():
    line = InvoiceLine("x", "", 1, D("1000"))
    totals = compute_totals([line], seller_state_code=KERALA, place_of_supply_state_code=KERALA)
    assert totals.cgst_rate == settings.GST_RATE_PERCENT / 2
    assert totals.cgst == D("1000") * settings.GST_RATE_PERCENT / 200


def test_half_paisa_tax_rounds_half_up_and_positive_round_off():
    # 9 % of 100.50 is 9.045: half up gives 9.05 (banker's rounding would give 9.04).
    intra = single_line(D("100.50"))
    assert (intra.cgst, intra.sgst) == (D("9.05"), D("9.05"))
    assert intra.total_before_round_off == D("118.60")
    assert intra.round_off == D("0.40")
    assert intra.grand_total == D("119.00")
    # 18 % of 100.50 is exactly 18.09.
    inter = single_line(D("100.50"), place="27")
    assert inter.igst == D("18.09")
    assert inter.round_off == D("0.41")
    assert inter.grand_total == D("119.00")


def test_negative_round_off():
    # 101.00 + 9.09 + 9.09 = 119.18 → 119.00
    totals = single_line(D("101.00"))
    assert totals.total_before_round_off == D("119.18")
    assert totals.round_off == D("-0.18")
    assert totals.grand_total == D("119.00")


def test_half_rupee_rounds_up():
    # 125.00 + 11.25 + 11.25 = 147.50 → 148.00
    totals = single_line(D("125.00"))
    assert totals.round_off == D("0.50")
    assert totals.grand_total == D("148.00")


def test_each_line_is_rounded_to_paise_on_its_own():
    lines = [
        InvoiceLine("a", "", 3, D("0.335")),  # 1.005 → 1.01
        InvoiceLine("b", "", 1, D("0.005")),  # 0.005 → 0.01
        InvoiceLine("c", "", D(4) / D(3), D("1000.00")),  # 1 h 20 min: 1333.333… → 1333.33
    ]
    totals = compute_totals(lines, seller_state_code="32", place_of_supply_state_code="32", rate_percent=18)
    assert totals.line_taxable_values == (D("1.01"), D("0.01"), D("1333.33"))
    assert totals.taxable_value == D("1334.35")  # rounding the unrounded sum 1334.3433… would give 1334.34
    assert totals.cgst == D("120.09")  # 120.0915


def test_other_rate_is_split_in_halves():
    totals = compute_totals(
        [InvoiceLine("x", "", 1, D("1000"))], seller_state_code="32", place_of_supply_state_code="32", rate_percent=5
    )
    assert (totals.cgst_rate, totals.sgst_rate) == (D("2.5"), D("2.5"))
    assert (totals.cgst, totals.sgst) == (D("25.00"), D("25.00"))
    assert totals.grand_total == D("1050.00")


def test_crore_total():
    # 84,745,762.71 × 9 % = 7,627,118.6439 → 7,627,118.64 (twice): 9,99,99,999.99 before round-off.
    totals = compute_totals(
        [InvoiceLine("Annual lease", "997212", 1, D("84745762.71"))],
        seller_state_code="32",
        place_of_supply_state_code="32",
        rate_percent=18,
    )
    assert totals.cgst == totals.sgst == D("7627118.64")
    assert totals.total_before_round_off == D("99999999.99")
    assert format_inr(totals.total_before_round_off) == "₹9,99,99,999.99"
    assert amount_in_words(totals.total_before_round_off) == (
        "Rupees Nine Crore Ninety Nine Lakh Ninety Nine Thousand Nine Hundred Ninety Nine and Ninety Nine Paise Only"
    )
    assert totals.round_off == D("0.01")
    assert totals.grand_total == D("100000000.00")
    assert format_inr(totals.grand_total) == "₹10,00,00,000.00"
    assert amount_in_words(totals.grand_total) == "Rupees Ten Crore Only"


def test_no_lines_is_a_zero_invoice():
    totals = compute_totals([], seller_state_code="32", place_of_supply_state_code="32")
    assert totals.grand_total == D("0.00")
    assert totals.round_off == D("0.00")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"quantity": 1.5}, TypeError),
        ({"rate": 10.0}, TypeError),
        ({"quantity": "2"}, TypeError),
        ({"quantity": -1}, ValueError),
        ({"rate": D("-0.01")}, ValueError),
        ({"discount": D("-1")}, ValueError),
        ({"discount": D("100.01")}, ValueError),
        ({"rate": D("NaN")}, ValueError),
    ],
)
def test_bad_lines_are_refused(kwargs, error):
    values = {"description": "x", "hsn_sac": "", "quantity": 1, "rate": D("100.00")} | kwargs
    with pytest.raises(error):
        InvoiceLine(**values)


def test_bad_totals_arguments_are_refused():
    line = InvoiceLine("x", "", 1, D("1"))
    with pytest.raises(ValueError):
        compute_totals([line], seller_state_code="", place_of_supply_state_code="32")
    with pytest.raises(TypeError):
        compute_totals([line], seller_state_code="32", place_of_supply_state_code="32", rate_percent=18.0)
    with pytest.raises(ValueError):
        compute_totals([line], seller_state_code="32", place_of_supply_state_code="32", amount_paid=D("-1"))


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (D("123456.78"), "Rupees One Lakh Twenty Three Thousand Four Hundred Fifty Six and Seventy Eight Paise Only"),
        (D("0"), "Rupees Zero Only"),
        (D("0.00"), "Rupees Zero Only"),
        (D("5"), "Rupees Five Only"),
        (D("101.00"), "Rupees One Hundred One Only"),
        (D("0.01"), "Rupees Zero and One Paisa Only"),
        (D("21.50"), "Rupees Twenty One and Fifty Paise Only"),
        (D("10000000"), "Rupees One Crore Only"),
        (
            D("9999999999.99"),
            "Rupees Nine Hundred Ninety Nine Crore Ninety Nine Lakh Ninety Nine Thousand Nine"
            " Hundred Ninety Nine and Ninety Nine Paise Only",
        ),
        (D("10000000000"), "Rupees One Thousand Crore Only"),
        (D("1000000000000000.05"), "Rupees Ten Crore Crore and Five Paise Only"),
        (
            D("1179999999999.00"),
            "Rupees One Lakh Seventeen Thousand Nine Hundred Ninety Nine Crore Ninety Nine"
            " Lakh Ninety Nine Thousand Nine Hundred Ninety Nine Only",
        ),
        (D("1.005"), "Rupees One and One Paisa Only"),  # rounded to paise, half up, first
    ],
)
def test_amount_in_words(amount, words):
    assert amount_in_words(amount) == words


def test_amount_in_words_refuses_negative():
    with pytest.raises(ValueError):
        amount_in_words(D("-1"))


@pytest.mark.parametrize(
    ("amount", "kwargs", "text"),
    [
        (D("0"), {}, "₹0.00"),
        (D("5"), {}, "₹5.00"),
        (D("999.99"), {}, "₹999.99"),
        (D("1000"), {}, "₹1,000.00"),
        (D("100000"), {}, "₹1,00,000.00"),
        (D("123456.78"), {}, "₹1,23,456.78"),
        (D("12345678.9"), {}, "₹1,23,45,678.90"),
        (D("0.005"), {}, "₹0.01"),
        (D("-1234.5"), {}, "-₹1,234.50"),
        (D("0.40"), {"signed": True}, "+₹0.40"),
        (D("-0.18"), {"signed": True}, "-₹0.18"),
        (D("0.00"), {"signed": True}, "₹0.00"),
        (D("1234567"), {"symbol": ""}, "12,34,567.00"),
    ],
)
def test_format_inr(amount, kwargs, text):
    assert format_inr(amount, **kwargs) == text


@pytest.mark.parametrize(
    ("quantity", "text"),
    [(2, "2"), (D("10"), "10"), (D("1.50"), "1.5"), (D(4) / D(3), "1.3333"), (D("0"), "0"), (D("4.25"), "4.25")],
)
def test_format_quantity(quantity, text):
    assert format_quantity(quantity) == text


# --- GSTIN and financial year ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("27AAPFU0939F1ZV", "27AAPFU0939F1ZV"),  # python-stdnum's documented example
        (" 32aabcl1234f1z7 ", "32AABCL1234F1Z7"),  # the demo seller, lower case with spaces
        ("32-AABCL-1234F-1Z7", "32AABCL1234F1Z7"),
        ("38AABCL1234F1ZV", "38AABCL1234F1ZV"),  # Ladakh (38): not in stdnum's own GSTIN list
        ("97AABCL1234F1ZR", "97AABCL1234F1ZR"),  # Other Territory
    ],
)
def test_valid_gstins(value, normalised):
    from bookings.gst import gstin_state_code, validate_gstin

    assert validate_gstin(value) == normalised
    assert gstin_state_code(value) == normalised[:2]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("32AABCL1234F1Z5", "check character"),  # one character mistyped
        ("27AAPFU0939F1ZW", "check character"),
        ("32AABCL1234F1Z", "exactly 15 characters"),
        ("32AABCL1234F1Z77", "exactly 15 characters"),
        ("", "exactly 15 characters"),
        ("1234567890ABCDE", "2 digits, 5 letters"),
        ("32AABCL1234F0Z7", "2 digits, 5 letters"),  # entity number 0
        ("32AABCL1234F1X7", "2 digits, 5 letters"),  # 14th character not Z
        ("00AABCL1234F1Z7", "00 is not a GST state code"),
        ("39AABCL1234F1Z7", "39 is not a GST state code"),
        ("99AABCL1234F1Z7", "99 is not a GST state code"),
        ("32AABXL1234F1Z7", "PAN"),  # X is no PAN holder type
    ],
)
def test_invalid_gstins(value, message):
    from bookings.gst import validate_gstin

    with pytest.raises(ValueError, match=message):
        validate_gstin(value)


def test_gstin_must_be_text():
    from bookings.gst import validate_gstin

    with pytest.raises(TypeError):
        validate_gstin(27)


def test_default_seller_gstin_is_valid():
    from bookings.gst import validate_gstin

    assert validate_gstin(settings.INVOICE_SELLER["gstin"]) == settings.INVOICE_SELLER["gstin"]
    assert settings.INVOICE_SELLER["gstin"][:2] == settings.INVOICE_SELLER["state_code"]
    assert settings.INVOICE_SELLER["gstin"][2:12] == settings.INVOICE_SELLER["pan"]


@pytest.mark.parametrize(
    ("day", "year"),
    [
        ((2026, 4, 1), "2026-27"),
        ((2027, 3, 31), "2026-27"),
        ((2027, 4, 1), "2027-28"),
        ((2027, 1, 15), "2026-27"),
        ((1999, 4, 1), "1999-00"),
        ((2099, 12, 31), "2099-00"),
    ],
)
def test_financial_year(day, year):
    from datetime import date

    from bookings.gst import financial_year

    assert financial_year(date(*day)) == year
