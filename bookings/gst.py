"""GST invoice arithmetic: pure `Decimal` maths over plain values, no models, no floats.

Units: money is INR as `Decimal`; "paise" means rounded to 2 places; rates are in percent (18 means 18 %).

Rules applied:

* Value of supply (CGST Act 2017, s.15): quantity × rate, less a discount shown on the invoice (s.15(3)(a)).
  Each line's taxable value is rounded to paise, half up, on its own.
* Which tax (IGST Act 2017, ss.7–8): a supply whose place of supply is in the supplier's state is intra-state
  and bears CGST + SGST, each half the rate (9 % + 9 % of 18 %); otherwise it is inter-state and bears IGST at
  the full rate. Each tax amount is computed on the invoice's total taxable value and rounded to paise, half up.
* Round-off: the grand total is rounded to the nearest rupee, half up, and the difference is shown as its own
  signed line — the usual practice for the invoice total required by CGST Rules 2017, Rule 46.
* GSTIN (CGST Rules 2017, Rule 10 and Form GST REG-06): 2-digit state code, the holder's 10-character PAN, an
  entity number, "Z" and a mod-36 Luhn check character (PAN and Luhn checks from python-stdnum).
* Financial year (General Clauses Act 1897, s.3(21)): 1 April to 31 March, named "2026-27".
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from num2words import num2words
from stdnum import exceptions as stdnum_exceptions
from stdnum import luhn
from stdnum.in_ import pan as stdnum_pan
from stdnum.util import clean as stdnum_clean

PAISA = Decimal("0.01")
RUPEE = Decimal("1")
ZERO = Decimal("0.00")


def to_paise(amount: Decimal) -> Decimal:
    """Round an INR amount to paise (2 places), half up."""
    return amount.quantize(PAISA, rounding=ROUND_HALF_UP)


def _as_decimal(value: Decimal | int, name: str) -> Decimal:
    """``value`` as a `Decimal`; an int is exact, a float (or anything else) is refused with `TypeError`."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal or an int, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{name} must be finite")
    return result


@dataclass(frozen=True)
class InvoiceLine:
    """One line of an invoice, before tax.

    ``quantity`` (units, or hours) and ``rate`` (INR per unit) are `Decimal` or `int`; ``discount`` is an INR
    amount taken off ``quantity × rate`` (0 ≤ discount ≤ quantity × rate). Raises `TypeError` for a float and
    `ValueError` for a negative quantity, rate or discount, or a discount larger than the line.
    """

    description: str
    hsn_sac: str
    quantity: Decimal
    rate: Decimal
    discount: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("quantity", "rate", "discount"):
            value = _as_decimal(getattr(self, name), name)
            if value < 0:
                raise ValueError(f"{name} must not be negative")
            object.__setattr__(self, name, value)
        if self.discount > self.gross:
            raise ValueError("discount must not exceed quantity × rate")

    @property
    def gross(self) -> Decimal:
        """``quantity × rate`` in INR, unrounded."""
        return self.quantity * self.rate

    @property
    def taxable_value(self) -> Decimal:
        """``quantity × rate − discount`` in INR, rounded to paise (half up) for this line alone."""
        return to_paise(self.gross - self.discount)


@dataclass(frozen=True)
class InvoiceTotals:
    """The computed money of an invoice; every amount is INR in paise, every rate in percent.

    ``cgst_rate``/``sgst_rate`` are 0 on an inter-state invoice and ``igst_rate`` is 0 on an intra-state one
    (and so are their amounts). ``round_off`` is signed: ``grand_total = total_before_round_off + round_off``.
    ``balance_due`` is ``grand_total − amount_paid`` and is negative when more was paid than is due.
    """

    lines: tuple[InvoiceLine, ...]
    line_taxable_values: tuple[Decimal, ...]
    taxable_value: Decimal
    intra_state: bool
    cgst_rate: Decimal
    sgst_rate: Decimal
    igst_rate: Decimal
    cgst: Decimal
    sgst: Decimal
    igst: Decimal
    total_tax: Decimal
    total_before_round_off: Decimal
    round_off: Decimal
    grand_total: Decimal
    amount_paid: Decimal
    balance_due: Decimal


def compute_totals(
    lines: list[InvoiceLine] | tuple[InvoiceLine, ...],
    *,
    seller_state_code: str,
    place_of_supply_state_code: str,
    rate_percent: Decimal | int | None = None,
    amount_paid: Decimal | int = ZERO,
) -> InvoiceTotals:
    """Total an invoice: taxable values, GST split, round-off, grand total and balance.

    ``seller_state_code`` and ``place_of_supply_state_code`` are GST state codes ("32" for Kerala); equal codes
    make the supply intra-state (CGST + SGST at half ``rate_percent`` each), different ones inter-state (IGST at
    ``rate_percent``) — IGST Act ss.7–8. ``rate_percent`` defaults to ``settings.GST_RATE_PERCENT``.
    ``amount_paid`` is INR already received. Raises `ValueError` for an empty state code or a negative rate or
    payment, `TypeError` for a float.
    """
    seller = seller_state_code.strip()
    place = place_of_supply_state_code.strip()
    if not seller or not place:
        raise ValueError("state codes must not be empty")
    if rate_percent is None:
        from django.conf import settings

        rate_percent = settings.GST_RATE_PERCENT
    rate = _as_decimal(rate_percent, "rate_percent")
    paid = to_paise(_as_decimal(amount_paid, "amount_paid"))
    if rate < 0 or paid < 0:
        raise ValueError("rate_percent and amount_paid must not be negative")

    line_values = tuple(line.taxable_value for line in lines)
    taxable = to_paise(sum(line_values, ZERO))
    intra_state = seller == place
    if intra_state:
        cgst_rate = sgst_rate = rate / 2
        igst_rate = Decimal(0)
    else:
        cgst_rate = sgst_rate = Decimal(0)
        igst_rate = rate
    cgst = to_paise(taxable * cgst_rate / 100)
    sgst = to_paise(taxable * sgst_rate / 100)
    igst = to_paise(taxable * igst_rate / 100)
    total_tax = cgst + sgst + igst
    before = taxable + total_tax
    grand_total = before.quantize(RUPEE, rounding=ROUND_HALF_UP).quantize(PAISA)
    return InvoiceTotals(
        lines=tuple(lines),
        line_taxable_values=line_values,
        taxable_value=taxable,
        intra_state=intra_state,
        cgst_rate=cgst_rate,
        sgst_rate=sgst_rate,
        igst_rate=igst_rate,
        cgst=cgst,
        sgst=sgst,
        igst=igst,
        total_tax=total_tax,
        total_before_round_off=before,
        round_off=grand_total - before,
        grand_total=grand_total,
        amount_paid=paid,
        balance_due=grand_total - paid,
    )


#: One crore (1,00,00,000); num2words' Indian English stops below 1,000 crore.
CRORE = 10**7


def _integer_words(number: int) -> str:
    """``number`` in Indian-system words, title case, no commas, hyphens or "and": 101 → "One Hundred One".

    From 1,000 crore up the crores are themselves counted in words, as Indian usage does: 12,34,567 crore →
    "Twelve Lakh Thirty Four Thousand Five Hundred Sixty Seven Crore", with no upper limit.
    """
    if number >= 1000 * CRORE:
        crores, rest = divmod(number, CRORE)
        text = f"{_integer_words(crores)} Crore"
        return f"{text} {_integer_words(rest)}" if rest else text
    words = num2words(number, lang="en_IN").replace(",", " ").replace("-", " ").split()
    return " ".join(word.capitalize() for word in words if word != "and")


def amount_in_words(amount: Decimal) -> str:
    """An INR amount in words, Indian system (lakh, crore), as printed on an invoice.

    ``Decimal("123456.78")`` → ``"Rupees One Lakh Twenty Three Thousand Four Hundred Fifty Six and Seventy Eight
    Paise Only"``; whole rupees → ``"Rupees Five Only"``; zero → ``"Rupees Zero Only"``; one paisa is "One Paisa".
    The amount is rounded to paise (half up) first; any size is spelt out (from 1,000 crore up the crores are
    counted in words: "One Lakh Crore"). Raises `ValueError` for a negative amount.
    """
    value = to_paise(_as_decimal(amount, "amount"))
    if value < 0:
        raise ValueError("amount must not be negative")
    rupees = int(value)
    paise = int((value - rupees) * 100)
    text = f"Rupees {_integer_words(rupees)}"
    if paise:
        text += f" and {_integer_words(paise)} {'Paisa' if paise == 1 else 'Paise'}"
    return text + " Only"


def format_inr(amount: Decimal, *, symbol: str = "₹", signed: bool = False) -> str:
    """An INR amount rounded to paise with Indian digit grouping: ``Decimal("123456.78")`` → ``"₹1,23,456.78"``.

    Negative amounts get a leading "-" ("-₹0.18"); ``signed=True`` also puts "+" before positive ones (for a
    round-off line). ``symbol=""`` leaves the rupee sign out.
    """
    value = to_paise(_as_decimal(amount, "amount"))
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    rupees, paise = f"{abs(value):f}".split(".")
    head, groups = rupees[:-3], [rupees[-3:]]
    while head:
        groups.insert(0, head[-2:])
        head = head[:-2]
    return f"{sign}{symbol}{','.join(groups)}.{paise}"


def format_quantity(quantity: Decimal | int) -> str:
    """A quantity without trailing zeros and at most 4 decimals (half up): 2 → "2", 1.50 → "1.5", 4/3 → "1.3333"."""
    value = _as_decimal(quantity, "quantity").quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize()
    return f"{value:f}"


#: GST state codes (CBIC's list): 01 Jammu and Kashmir … 37 Andhra Pradesh, 38 Ladakh, 97 Other Territory.
GST_STATE_CODES = frozenset({f"{code:02d}" for code in range(1, 39)} | {"97"})
_GSTIN_FORMAT = re.compile(r"[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]")
_GSTIN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def validate_gstin(value: str) -> str:
    """Check a regular taxpayer's GSTIN and return it normalised (spaces and dashes removed, upper case):
    ``"32aabcl1234f1z7"`` → ``"32AABCL1234F1Z7"``.

    15 characters: a state code (`GST_STATE_CODES`), the holder's PAN (its 4th letter a valid holder type), an
    entity number (1–9, A–Z), "Z" and a mod-36 Luhn check character. The PAN and Luhn checks are python-stdnum's
    (``stdnum.in_.pan``, ``stdnum.luhn``); its own ``stdnum.in_.gstin`` is not used because it lacks codes 38 and
    97. Raises `ValueError` naming what is wrong: the length, the format, the state code, the PAN or the check
    character; `TypeError` for a non-str.
    """
    if not isinstance(value, str):
        raise TypeError(f"a GSTIN is a str, not {type(value).__name__}")
    number = stdnum_clean(value, " -").strip().upper()
    if len(number) != 15:
        raise ValueError("A GSTIN has exactly 15 characters.")
    if not _GSTIN_FORMAT.fullmatch(number):
        raise ValueError(
            "A GSTIN is 2 digits, 5 letters, 4 digits, a letter, a digit 1-9 or letter, Z and a check character."
        )
    if number[:2] not in GST_STATE_CODES:
        raise ValueError(f"{number[:2]} is not a GST state code.")
    try:
        stdnum_pan.validate(number[2:12])
    except stdnum_exceptions.ValidationError as exc:
        raise ValueError("The PAN inside the GSTIN (characters 3 to 12) is not valid.") from exc
    try:
        luhn.validate(number, alphabet=_GSTIN_ALPHABET)
    except stdnum_exceptions.ValidationError as exc:
        raise ValueError("The GSTIN's check character (the 15th) does not match: it is mistyped.") from exc
    return number


def gstin_state_code(gstin: str) -> str:
    """The GST state code a valid GSTIN starts with: ``"32AABCL1234F1Z7"`` → ``"32"``.

    Raises `ValueError` if the GSTIN is not valid (`validate_gstin`)."""
    return validate_gstin(gstin)[:2]


def financial_year(day: date) -> str:
    """The Indian financial year (1 April – 31 March) ``day`` falls in, as ``"YYYY-YY"``: 31 Mar 2027 → ``"2026-27"``,
    1 Apr 2027 → ``"2027-28"``, 1 Apr 1999 → ``"1999-00"``."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"
