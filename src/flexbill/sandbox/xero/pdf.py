"""The PDF of an invoice or a credit note, laid out like Xero's standard branding theme.

The PDF is real (fpdf2) and deterministic: its creation date is the document's last update, so the same
document always renders to the same bytes. The built-in PDF fonts cover Latin-1 only; other characters are
transliterated where possible ("ł" becomes "l", "€" becomes "EUR") and replaced by "?" otherwise.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from decimal import Decimal

from fpdf import FPDF

from flexbill.sandbox.xero.model import ZERO, Contact, Document
from flexbill.sandbox.xero.state import Organisation

_REPLACEMENTS = str.maketrans(
    {
        "\u20ac": "EUR", "\u00a3": "GBP", "\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
        "\u201d": '"', "\u2026": "...",
        "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "\u00a0": " ",
    }
)  # fmt: skip


def latin1(text: str) -> str:
    """Text the core PDF fonts can draw.

    >>> latin1("\u0141\u00f3d\u017a \u2013 12 \u20ac")
    'Lodz - 12 EUR'
    """
    text = text.translate(_REPLACEMENTS)
    if all(ord(char) < 256 for char in text):
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", stripped).encode("latin-1", "replace").decode("latin-1")


def amount(value: Decimal) -> str:
    """``Decimal('1234.5')`` -> ``'1,234.50'``."""
    return f"{value:,.2f}"


def _unit_price(value: Decimal) -> str:
    """Two places, or four when the price needs them (``unitdp=4``)."""
    return amount(value) if value == value.quantize(Decimal("0.01")) else f"{value:,.4f}"


def _address_lines(contact: Contact) -> list[str]:
    chosen = next((a for a in contact.addresses if a.get("AddressType") == "POBOX"), None) or next(
        iter(contact.addresses), None
    )
    if chosen is None:
        return []
    lines = [chosen.get(f"AddressLine{n}", "") for n in range(1, 5)]
    city_line = " ".join(part for part in (chosen.get("City", ""), chosen.get("PostalCode", "")) if part)
    lines += [city_line, chosen.get("Region", ""), chosen.get("Country", "")]
    if chosen.get("AttentionTo"):
        lines.insert(0, f"Attention: {chosen['AttentionTo']}")
    return [line for line in lines if line]


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("helvetica", size=7)
        self.set_text_color(110)
        self.cell(0, 5, latin1(self.footer_text), align="C")


def render(org: Organisation, doc: Document) -> bytes:
    """The document's PDF; call with the organisation's lock held (it reads the contact and the tax rates)."""
    profile = org.profile
    contact = org.contacts[doc.contact_id]
    is_invoice = doc.kind == "invoice"
    title = "TAX INVOICE" if is_invoice else "CREDIT NOTE"
    footer = (
        f"{profile.legal_name}. Registered in England and Wales, company number {profile.registration_number}. "
        f"VAT number {profile.tax_number}."
    )
    pdf = _Pdf(footer)
    pdf.set_creation_date(doc.updated)
    pdf.set_title(latin1(f"{title.title()} {doc.number}"))
    pdf.set_author(latin1(profile.name))
    pdf.set_creator("flexbill Xero sandbox")
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    pdf.set_margins(15, 15, 15)

    pdf.set_font("helvetica", "B", 22)
    pdf.cell(100, 12, title)
    pdf.set_font("helvetica", size=9)
    right = [profile.name, profile.address_line1, f"{profile.city} {profile.postal_code}", profile.country]
    pdf.set_xy(130, 15)
    pdf.multi_cell(65, 4.5, latin1("\n".join(right)), align="R")
    if doc.status in ("PAID", "VOIDED"):
        pdf.set_xy(15, 28)
        pdf.set_font("helvetica", "B", 14)
        if doc.status == "VOIDED":
            pdf.set_text_color(200, 0, 0)
        else:
            pdf.set_text_color(0, 130, 60)
        pdf.cell(60, 8, "VOID" if doc.status == "VOIDED" else "PAID")
        pdf.set_text_color(0)

    pdf.set_xy(15, 42)
    pdf.set_font("helvetica", size=10)
    bill_to = [contact.name, *_address_lines(contact)]
    if contact.tax_number:
        bill_to.append(f"VAT number: {contact.tax_number}")
    pdf.multi_cell(95, 5, latin1("\n".join(bill_to)))
    bill_to_end = pdf.get_y()

    meta = [
        ("Invoice Date" if is_invoice else "Credit Note Date", doc.date.strftime("%d %b %Y")),
        ("Invoice Number" if is_invoice else "Credit Note Number", doc.number),
    ]
    if doc.reference:
        meta.append(("Reference", doc.reference))
    if is_invoice and doc.due_date is not None:
        meta.append(("Due Date", doc.due_date.strftime("%d %b %Y")))
    meta.append(("VAT Number", profile.tax_number))
    y = 42.0
    for label, value in meta:
        pdf.set_xy(120, y)
        pdf.set_font("helvetica", "B", 8)
        pdf.cell(75, 4, latin1(label), align="R")
        pdf.set_xy(120, y + 4)
        pdf.set_font("helvetica", size=9)
        pdf.cell(75, 4.5, latin1(value), align="R")
        y += 10

    pdf.set_xy(15, max(y, bill_to_end) + 6)
    amounts_are = {"Exclusive": "Amounts are exclusive of VAT", "Inclusive": "Amounts include VAT"}.get(
        doc.line_amount_types, "No VAT"
    )
    widths = (82, 20, 26, 24, 28)
    headers = ("Description", "Quantity", "Unit Price", "VAT", f"Amount {doc.currency_code}")
    pdf.set_font("helvetica", "B", 9)
    for width, header in zip(widths, headers, strict=True):
        pdf.cell(width, 7, header, border="B", align="L" if header == "Description" else "R")
    pdf.ln()
    pdf.set_font("helvetica", size=9)
    tax_by_rate: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in doc.lines:
        rate = org.tax_rate(line.tax_type)
        rate_label = f"{rate.effective_rate.normalize():f}%" if rate else line.tax_type
        tax_by_rate[rate.name if rate else line.tax_type] += line.tax_amount
        start_y = pdf.get_y()
        pdf.set_x(15)
        pdf.multi_cell(widths[0], 5, latin1(line.description), new_x="LMARGIN", new_y="NEXT")
        end_y = pdf.get_y()
        pdf.set_xy(15 + widths[0], start_y)
        pdf.cell(widths[1], 5, f"{line.quantity.normalize():f}", align="R")
        pdf.cell(widths[2], 5, _unit_price(line.unit_amount), align="R")
        pdf.cell(widths[3], 5, rate_label, align="R")
        pdf.cell(widths[4], 5, amount(line.line_amount), align="R")
        pdf.set_xy(15, max(end_y, start_y + 5) + 1)
    pdf.ln(2)

    totals: list[tuple[str, str, bool]] = [("Subtotal", amount(doc.sub_total), False)]
    for name, tax in sorted(tax_by_rate.items()):
        if tax != ZERO:
            totals.append((f"Total VAT {name}", amount(tax), False))
    if doc.total_tax == ZERO:
        totals.append(("Total VAT", amount(ZERO), False))
    totals.append((f"TOTAL {doc.currency_code}", amount(doc.total), True))
    if doc.amount_paid:
        totals.append(("Less Amount Paid", amount(doc.amount_paid), False))
    if doc.amount_credited:
        totals.append(
            ("Less Credit Applied" if is_invoice else "Less Credit Allocated", amount(doc.amount_credited), False)
        )
    if doc.amount_paid or doc.amount_credited:
        label = "AMOUNT DUE" if is_invoice else "REMAINING CREDIT"
        totals.append((f"{label} {doc.currency_code}", amount(doc.outstanding), True))
    for label, value, bold in totals:
        pdf.set_x(15 + widths[0] + widths[1])
        pdf.set_font("helvetica", "B" if bold else "", 9)
        pdf.cell(widths[2] + widths[3], 6, latin1(label), border="T" if bold else 0, align="R")
        pdf.cell(widths[4], 6, value, border="T" if bold else 0, align="R")
        pdf.ln()

    pdf.ln(6)
    pdf.set_font("helvetica", size=8)
    pdf.set_text_color(90)
    pdf.multi_cell(0, 4, amounts_are)
    pdf.set_text_color(0)
    if is_invoice and doc.status != "VOIDED":
        bank = org.account_by_code("090")
        pdf.ln(4)
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(0, 6, "PAYMENT ADVICE")
        pdf.ln()
        pdf.set_font("helvetica", size=9)
        advice = [
            f"To: {profile.name}",
            f"Customer: {contact.name}",
            f"Invoice Number: {doc.number}",
            f"Amount Due: {doc.currency_code} {amount(doc.outstanding)}",
        ]
        if doc.due_date is not None:
            advice.append(f"Due Date: {doc.due_date.strftime('%d %b %Y')}")
        if bank is not None and bank.bank_account_number:
            advice.append(f"Bank transfer to {bank.name}, sort code and account {bank.bank_account_number}")
        pdf.multi_cell(0, 5, latin1("\n".join(advice)))
    return bytes(pdf.output())
