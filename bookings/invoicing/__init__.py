"""A booking's GST invoice, one module per job:

- `document`: what the invoice says (`build_invoice` → `Invoice`), PROFORMA or TAX INVOICE (`invoice_title`);
- `numbering`: the tax invoice's serial number (`issue_invoice_number`), allocated in a locked transaction;
- `pdf`: the HTML template's context and the xhtml2pdf render, confined to the app's fonts and logo;
- `cache`: revisions, the on-disk cache, the render limit (`invoice_pdf`, what callers use);
- `export`: the ZIP of many invoices (`write_invoices_zip`, the admin's action);
- `download`: the HTTP responses that serve an invoice PDF or a ZIP (`invoice_response`, `zip_response`).

The exceptions (`InvoiceNotAvailable`, `InvoiceBusy`, `InvoiceRenderError`) are in `lebrq.exceptions`.
"""
