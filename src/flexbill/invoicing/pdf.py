"""flexbill's own PDF of an invoice: a view model of what the invoice says, and its rendering.

:func:`invoice_document` turns a stored invoice and its location into an :class:`InvoiceDocument`: plain frozen
values, amounts already formatted for print, nothing that reaches back into the database. :func:`render_pdf`
lays that out with the Jinja2 template ``templates/invoice.html`` and its stylesheet ``templates/invoice.css``
and has WeasyPrint print it on A4.

Rendering never leaves the machine: the only resources a document may load are ``data:`` URIs (the logo is
embedded as one), so an SVG logo that names a URL or a file cannot make the server fetch it. Everything printed
from operators' and members' data goes through Jinja2's autoescaping, so it is text, never markup.

The output is deterministic for the same invoice, location, day and pay link on the same WeasyPrint and fonts:
the PDF's creation date is the invoice's issue date, and nothing records the moment of rendering. What changes
the bytes: the invoice's own changes (payments, credits, voiding), the day (an open invoice becomes overdue), the
location's details and logo, the pay link (it carries the public URL and a signature made with the secret key),
and upgrades of WeasyPrint or of the system fonts.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from weasyprint import CSS, HTML  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

from flexbill import wire
from flexbill.catalog.store import LocationRow
from flexbill.formatting import LOCALE, format_money
from flexbill.invoicing.model import OPEN_STATUSES, InvoiceStatus, TaxBreakdownRow, TaxRate
from flexbill.invoicing.service import amount_due, is_overdue, stored_tax_breakdown
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow
from flexbill.money import ZERO
from flexbill.periods import Period, human_period

TEMPLATES = Path(__file__).parent / "templates"


class DocumentStatus(StrEnum):
    """The status printed on an invoice: the stored status, with an open invoice past its due date overdue."""

    DRAFT = "Draft"
    AWAITING_PAYMENT = "Awaiting payment"
    PARTIALLY_PAID = "Partially paid"
    PAID = "Paid"
    OVERDUE = "Overdue"
    VOID = "Void"


_STATUSES = {
    InvoiceStatus.DRAFT: DocumentStatus.DRAFT,
    InvoiceStatus.AWAITING_PAYMENT: DocumentStatus.AWAITING_PAYMENT,
    InvoiceStatus.PARTIALLY_PAID: DocumentStatus.PARTIALLY_PAID,
    InvoiceStatus.PAID: DocumentStatus.PAID,
    InvoiceStatus.VOIDED: DocumentStatus.VOID,
}


@dataclass(frozen=True, slots=True)
class Seller:
    name: str
    address_lines: tuple[str, ...]
    email: str | None
    phone: str | None
    tax_number: str | None


@dataclass(frozen=True, slots=True)
class Logo:
    media_type: str
    content: bytes

    @property
    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.content).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class BillTo:
    name: str
    email: str
    address_lines: tuple[str, ...]
    tax_number: str | None


@dataclass(frozen=True, slots=True)
class DocumentLine:
    description: str
    period: str | None  # "1-31 Dec 2026", unless the description says it already
    quantity: str
    unit_price: str
    discount: str | None  # the amount taken off, when there is one
    discount_rate: str | None  # "10%", when the discount is a percentage
    tax_rate: str  # "20%"
    amount: str  # in the invoice's price basis: net when prices exclude tax, gross when they include it


@dataclass(frozen=True, slots=True)
class TaxRow:
    label: str  # "VAT 20%"
    taxable_amount: str  # the net of the lines at that rate
    tax_amount: str


@dataclass(frozen=True, slots=True)
class Summary:
    """The box beside the bill-to details: what the reader needs first."""

    label: str
    amount: str
    note: str


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """Everything an invoice's PDF prints, formatted. Built by :func:`invoice_document`."""

    title: str  # "Invoice LB-0001": the PDF's title
    number: str  # the invoice number, or "Draft" / "Not yet numbered"
    status: DocumentStatus
    issue_date: date
    due_date: date
    currency: str
    seller: Seller
    logo: Logo | None
    bill_to: BillTo
    lines: tuple[DocumentLine, ...]
    show_discounts: bool
    tax_word: str  # "VAT" when every rate on the invoice is a VAT, else "Tax"
    price_note: str  # "Amounts exclude VAT"
    tax_rows: tuple[TaxRow, ...]
    subtotal_label: str
    subtotal: str
    tax_total: str
    total: str
    amount_paid: str | None  # None when nothing was paid
    amount_credited: str | None  # None when nothing was credited
    amount_due: str | None  # None on drafts and void invoices, which ask for nothing
    summary: Summary
    pay_url: str | None  # only while an amount is due on an issued invoice
    payment_details: tuple[str, ...]  # how to pay by bank transfer; empty when nothing is to be paid
    payment_reference: str | None
    banner: str | None  # why a draft or a void invoice is not a request for payment
    watermark: str | None  # "DRAFT" or "VOID"


def format_unit_price(price: Decimal, currency: str) -> str:
    """A unit price with the currency's places, or more when it has them (a prorated price keeps its four).

    >>> format_unit_price(Decimal("300.0000"), "GBP"), format_unit_price(Decimal("112.9032"), "GBP")
    ('£300.00', '£112.9032')
    """
    return format_currency(price.normalize(), currency, locale=LOCALE, decimal_quantization=False)


def format_quantity(quantity: Decimal) -> str:
    """A quantity without trailing zeros.

    >>> format_quantity(Decimal("2.0000")), format_quantity(Decimal("1500")), format_quantity(Decimal("0.25"))
    ('2', '1,500', '0.25')
    """
    return format_decimal(quantity.normalize(), locale=LOCALE, decimal_quantization=False)


def format_day(day: date) -> str:
    """A date as invoices print it.

    >>> format_day(date(2026, 12, 1))
    '1 Dec 2026'
    """
    return format_date(day, "d MMM y", locale=LOCALE)


def text_lines(text: str | None) -> tuple[str, ...]:
    """Multi-line text (an address, bank details) as its non-empty lines.

    >>> text_lines("1 High St\\r\\n\\n  London  \\n")
    ('1 High St', 'London')
    """
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def is_payable_online(invoice: InvoiceRow) -> bool:
    """An issued invoice with something still to pay: its PDF carries the "Pay online" link."""
    return invoice.status in OPEN_STATUSES and amount_due(invoice) > ZERO


def document_status(invoice: InvoiceRow, today: date) -> DocumentStatus:
    """``today``: the date at the invoice's location (``clock.local_today``)."""
    if is_overdue(invoice, today):
        return DocumentStatus.OVERDUE
    return _STATUSES[InvoiceStatus(invoice.status)]


def tax_word(breakdown: Sequence[TaxBreakdownRow]) -> str:
    """What the invoice calls its tax: the name every component shares ("VAT", "GST"), else "Tax".

    >>> row = TaxBreakdownRow("VAT20", "VAT", Decimal(20), Decimal(100), Decimal(20))
    >>> tax_word([row]), tax_word([row, TaxBreakdownRow("QST", "QST", Decimal("9.975"), ZERO, ZERO)]), tax_word([])
    ('VAT', 'Tax', 'Tax')
    """
    names = {row.component.strip() for row in breakdown}
    if len(names) == 1:
        (name,) = names
        if name:
            return name
    return "Tax"


def invoice_document(
    invoice: InvoiceRow,
    location: LocationRow,
    *,
    rates: Mapping[uuid.UUID, TaxRate],
    today: date,
    pay_url: str | None,
) -> InvoiceDocument:
    """What the invoice's PDF prints.

    ``rates``: the catalog's tax rates by id (the breakdown of rates of several components, as the API computes
    it); ``today``: the date at the location, for the overdue status; ``pay_url``: the invoice's pay link, printed
    only while the invoice is payable online. The bill-to details are the invoice's own, fixed when it was issued.
    """
    currency = invoice.currency
    status = document_status(invoice, today)
    breakdown = stored_tax_breakdown(invoice, rates)
    word = tax_word(breakdown)
    lines = tuple(_line(line, currency, invoice.prices_include_tax) for line in invoice.lines)
    asks_for_payment = invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.VOIDED)
    due = amount_due(invoice)
    payable = is_payable_online(invoice)
    return InvoiceDocument(
        title=f"Invoice {invoice.number}" if invoice.number else "Draft invoice" if _is_draft(invoice) else "Invoice",
        number=invoice.number or ("Draft" if _is_draft(invoice) else "Not yet numbered"),
        status=status,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        currency=currency,
        seller=Seller(
            name=location.legal_name or location.name,
            address_lines=text_lines(location.address),
            email=location.email,
            phone=location.phone,
            tax_number=location.tax_number,
        ),
        logo=Logo(location.logo_media_type, location.logo) if location.logo and location.logo_media_type else None,
        bill_to=BillTo(
            name=invoice.bill_to_name,
            email=invoice.bill_to_email,
            address_lines=text_lines(invoice.bill_to_address),
            tax_number=invoice.bill_to_tax_number,
        ),
        lines=lines,
        show_discounts=any(line.discount is not None for line in lines),
        tax_word=word,
        price_note=f"Amounts {'include' if invoice.prices_include_tax else 'exclude'} {_in_a_sentence(word)}",
        tax_rows=tuple(
            TaxRow(
                label=f"{row.component} {wire.number(row.rate)}%",
                taxable_amount=format_money(row.taxable_amount, currency),
                tax_amount=format_money(row.tax_amount, currency),
            )
            for row in breakdown
        ),
        subtotal_label=f"Total excl. {_in_a_sentence(word)}" if invoice.prices_include_tax else "Subtotal",
        subtotal=format_money(invoice.subtotal, currency),
        tax_total=format_money(invoice.tax_total, currency),
        total=format_money(invoice.total, currency),
        amount_paid=format_money(invoice.amount_paid, currency) if invoice.amount_paid else None,
        amount_credited=format_money(invoice.amount_credited, currency) if invoice.amount_credited else None,
        amount_due=format_money(due, currency) if asks_for_payment else None,
        summary=_summary(invoice, status, due),
        pay_url=pay_url if payable else None,
        payment_details=text_lines(location.payment_details) if payable or _is_draft(invoice) else (),
        payment_reference=invoice.number if payable else None,
        banner=_banner(invoice, location.timezone),
        watermark={DocumentStatus.DRAFT: "DRAFT", DocumentStatus.VOID: "VOID"}.get(status),
    )


def _in_a_sentence(word: str) -> str:
    return "tax" if word == "Tax" else word


def _is_draft(invoice: InvoiceRow) -> bool:
    return invoice.status == InvoiceStatus.DRAFT


def _line(line: InvoiceLineRow, currency: str, prices_include_tax: bool) -> DocumentLine:
    period = None
    if line.period_start is not None and line.period_end_exclusive is not None:
        period = human_period(Period(line.period_start, line.period_end_exclusive))
        if period in line.description:
            period = None  # a membership's line names its period already ("Hot desk, 1-31 Dec 2026")
    has_discount = line.discount_amount != ZERO
    return DocumentLine(
        description=line.description,
        period=period,
        quantity=format_quantity(line.quantity),
        unit_price=format_unit_price(line.unit_price, currency),
        discount=format_money(line.discount_amount, currency) if has_discount else None,
        discount_rate=f"{wire.number(line.discount_rate)}%" if has_discount and line.discount_rate else None,
        tax_rate=f"{wire.number(line.tax_rate_percent)}%",
        amount=format_money(line.gross_amount if prices_include_tax else line.net_amount, currency),
    )


def _summary(invoice: InvoiceRow, status: DocumentStatus, due: Decimal) -> Summary:
    currency = invoice.currency
    if status is DocumentStatus.DRAFT:
        return Summary("Total", format_money(invoice.total, currency), "Not yet issued")
    if status is DocumentStatus.VOID:
        return Summary("Total", format_money(invoice.total, currency), "Void: nothing to pay")
    if due < ZERO:
        return Summary("Amount due", format_money(due, currency), f"Overpaid by {format_money(-due, currency)}")
    if due == ZERO:
        return Summary("Amount due", format_money(due, currency), "Paid in full. Thank you.")
    if status is DocumentStatus.OVERDUE:
        return Summary("Amount due", format_money(due, currency), f"Overdue: was due {format_day(invoice.due_date)}")
    return Summary("Amount due", format_money(due, currency), f"Due {format_day(invoice.due_date)}")


def _banner(invoice: InvoiceRow, timezone: str) -> str | None:
    if invoice.status == InvoiceStatus.DRAFT:
        return "Draft: this invoice has not been issued and is not a request for payment."
    if invoice.status == InvoiceStatus.VOIDED:
        when = ""
        if invoice.voided_at is not None:
            when = f" on {format_day(invoice.voided_at.astimezone(ZoneInfo(timezone)).date())}"
        return f"Void: this invoice was cancelled{when} and is not payable."
    return None


# --- rendering -------------------------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # everything printed comes from operators and members: escaped, always
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["day"] = format_day
    return environment


@cache
def _stylesheet() -> CSS:
    """Parsed once: WeasyPrint only reads a stylesheet while rendering, so every document can share it."""
    return CSS(string=(TEMPLATES / "invoice.css").read_text(encoding="utf-8"), url_fetcher=_offline_fetcher())


def _offline_fetcher() -> URLFetcher:
    """Loads ``data:`` URIs and refuses every other scheme (http, https, file, ftp): no request leaves the
    server and no file is read while rendering, whatever an uploaded SVG logo names."""
    return URLFetcher(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=False)


def render_html(document: InvoiceDocument) -> str:
    return _environment().get_template("invoice.html").render(doc=document)


def render_pdf(document: InvoiceDocument) -> bytes:
    """The document as an A4 PDF. Its title, author (the seller) and creation date (the issue date) are set
    from the document, so the same document renders to the same bytes."""
    html = HTML(string=render_html(document), base_url=TEMPLATES.as_uri() + "/", url_fetcher=_offline_fetcher())
    content: bytes = html.write_pdf(stylesheets=[_stylesheet()])
    return content
