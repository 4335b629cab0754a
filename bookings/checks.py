"""System checks of the bookings settings (``manage.py check``), each with a stable id."""

import re

from django.conf import settings
from django.core.checks import Error, register

from .invoicing.numbering import MAX_PREFIX_LENGTH

_PREFIX = re.compile(rf"[A-Za-z0-9-]{{1,{MAX_PREFIX_LENGTH}}}")


@register()
def check_invoice_number_prefix(app_configs=None, **kwargs) -> list[Error]:
    """``bookings.E001``: INVOICE_NUMBER_PREFIX must be 1 to `MAX_PREFIX_LENGTH` letters, digits or "-", so that
    a tax invoice number stays within 16 characters (CGST Rules 2017, Rule 46(b))."""
    if _PREFIX.fullmatch(settings.INVOICE_NUMBER_PREFIX):
        return []
    return [
        Error(
            f"INVOICE_NUMBER_PREFIX {settings.INVOICE_NUMBER_PREFIX!r} would make tax invoice numbers longer than "
            "16 characters or put characters in them that CGST Rule 46(b) does not allow.",
            hint=f'Set INVOICE_NUMBER_PREFIX to 1 to {MAX_PREFIX_LENGTH} letters, digits or "-" (e.g. "LB").',
            id="bookings.E001",
        )
    ]
