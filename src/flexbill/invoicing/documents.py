"""The PDF of an invoice that members receive and download: the accounting system's own when flexbill has
fetched it (the invoice is synced, and the books are the record), flexbill's own rendering otherwise (no
accounting system, sync off, or manual and not yet synced)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.accounting.store import AccountingDocumentRow
from flexbill.catalog.service import get_location, tax_rate_terms
from flexbill.catalog.store import TaxRateRow
from flexbill.clock import Clock, local_today
from flexbill.invoicing.model import InvoiceStatus
from flexbill.invoicing.pdf import invoice_document, is_payable_online, render_pdf
from flexbill.invoicing.service import get_invoice
from flexbill.invoicing.store import InvoiceRow
from flexbill.links import pay_url
from flexbill.settings import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")  # runs of anything else, dashes included, become one dash


@dataclass(frozen=True, slots=True)
class InvoicePdf:
    content: bytes
    filename: str  # "LB-0001.pdf"; safe in a Content-Disposition header and on any file system
    source: Literal["accounting", "flexbill"]


def invoice_pdf(session: Session, settings: Settings, clock: Clock, invoice_id: uuid.UUID) -> InvoicePdf:
    """The invoice's PDF: the accounting system's when one was fetched, else flexbill's own, rendered now.
    Raises ``NotFound`` for an unknown invoice."""
    invoice = get_invoice(session, invoice_id)
    filename = pdf_filename(invoice)
    fetched = session.get(AccountingDocumentRow, invoice.id)
    if fetched is not None:
        return InvoicePdf(fetched.content, filename, "accounting")
    location = get_location(session, invoice.location_id)
    rate_ids = {line.tax_rate_id for line in invoice.lines}
    rates = {
        row.id: tax_rate_terms(row) for row in session.scalars(select(TaxRateRow).where(TaxRateRow.id.in_(rate_ids)))
    }
    document = invoice_document(
        invoice,
        location,
        rates=rates,
        today=local_today(clock, location.timezone),
        pay_url=pay_url(settings, invoice.id) if is_payable_online(invoice) else None,
    )
    return InvoicePdf(render_pdf(document), filename, "flexbill")


def pdf_filename(invoice: InvoiceRow) -> str:
    """``LB-0001.pdf``; a number with other characters has them replaced (``INV/2026/7`` -> ``INV-2026-7.pdf``,
    accents dropped);
    an invoice without a number is named by the end of its id (the random part: ids made together share their
    start), ``draft-…`` while it is a draft."""
    if invoice.number:
        ascii_only = unicodedata.normalize("NFKD", invoice.number).encode("ascii", "ignore").decode("ascii")
        safe = _UNSAFE.sub("-", ascii_only).strip(".-") or "invoice"
        return f"{safe}.pdf"
    prefix = "draft" if invoice.status == InvoiceStatus.DRAFT else "invoice"
    return f"{prefix}-{invoice.id.hex[-8:]}.pdf"
