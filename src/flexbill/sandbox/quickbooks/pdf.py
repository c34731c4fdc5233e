"""The PDF of an invoice or a credit memo, laid out like QuickBooks Online's standard sales form.

The company's name and address top left, the title in QuickBooks green, "Bill to", the document's number,
dates, location and custom field, the lines (date, product or service, description, quantity, rate, amount,
VAT code), the totals (subtotal, VAT, total, payments and balance due or remaining credit) and a VAT summary.
It is rendered from a Jinja2 template (``templates/document.html``, autoescaped) by WeasyPrint, which loads
nothing from outside: only ``data:`` URIs are allowed, so no document can make the sandbox fetch a URL.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from weasyprint import HTML  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

from flexbill.sandbox.quickbooks import demo

TEMPLATES = Path(__file__).parent / "templates"
SYMBOLS = {"GBP": "£", "EUR": "€"}


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _offline() -> URLFetcher:
    """Loads ``data:`` URIs and refuses every other scheme: rendering reads no file and fetches no URL."""
    return URLFetcher(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=False)


def money(value: Decimal, currency: str) -> str:
    """``money(Decimal('1234.5'), 'GBP')`` -> ``'£1,234.50'``; negative amounts get a leading minus."""
    sign = "-" if value < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{abs(value):,.2f}"


def _day(text: str | None) -> str:
    return date.fromisoformat(text).strftime("%d/%m/%Y") if text else ""


def _address(address: dict[str, Any] | None) -> list[str]:
    if not address:
        return []
    lines = [address.get(f"Line{n}", "") for n in range(1, 6)]
    lines.append(" ".join(part for part in (address.get("City", ""), address.get("PostalCode", "")) if part))
    lines.append(address.get("Country", ""))
    return [str(line) for line in lines if line]


def render(
    name: str,
    document: dict[str, Any],
    customer: dict[str, Any],
    tax_rates: dict[str, dict[str, Any]],
    *,
    printed_fields: bool = False,
) -> bytes:
    """The PDF of a rendered invoice or credit memo (as the API answers with it) for its customer; its custom
    fields are printed only when the company prints them on the form (``printed_fields``)."""
    info = demo.company_info()
    currency = document["CurrencyRef"]["value"]
    is_invoice = name == "Invoice"
    lines = []
    for line in document["Line"]:
        if line["DetailType"] == "SubTotalLineDetail":
            continue
        detail = line.get("SalesItemLineDetail", {})
        code = detail.get("TaxCodeRef", {}).get("value")
        lines.append(
            {
                "date": _day(detail.get("ServiceDate")),
                "item": detail.get("ItemRef", {}).get("name", ""),
                "description": line.get("Description", ""),
                "qty": f"{detail['Qty'].normalize():f}" if "Qty" in detail else "",
                "rate": f"{detail['UnitPrice']:,.2f}" if "UnitPrice" in detail else "",
                "amount": f"{line['Amount']:,.2f}",
                "vat": next((t["Name"] for i, t in tax_rates.items() if _code_rate(code) == i), code or ""),
            }
        )
    subtotal = sum(
        (line["Amount"] for line in document["Line"] if line["DetailType"] != "SubTotalLineDetail"), Decimal(0)
    )
    tax = document.get("TxnTaxDetail", {})
    total = document["TotalAmt"]
    balance = document.get("Balance", Decimal(0))
    totals: list[tuple[str, str, bool]] = [("Subtotal", money(subtotal, currency), False)]
    totals.append(("VAT total", money(tax.get("TotalTax", Decimal(0)), currency), False))
    totals.append(("Total", money(total, currency), True))
    if total != balance:
        totals.append(("Payment" if is_invoice else "Credit applied", money(balance - total, currency), False))
    totals.append(("Balance due" if is_invoice else "Remaining credit", money(balance, currency), True))
    vat_summary = []
    for tax_line in tax.get("TaxLine", []):
        detail = tax_line.get("TaxLineDetail", {})
        rate_id = detail.get("TaxRateRef", {}).get("value")
        rate = tax_rates.get(rate_id or "", {})
        vat_summary.append(
            {
                "name": rate.get("Name", rate_id or ""),
                "rate": f"{rate.get('RateValue', detail.get('TaxPercent', 0))}%",
                "tax": money(tax_line["Amount"], currency),
                "net": money(detail.get("NetAmountTaxable", subtotal), currency),
            }
        )
    voided = str(document.get("PrivateNote", "")).startswith("Voided")
    stamp = "VOID" if voided else ("PAID" if is_invoice and total > 0 and balance == 0 else "")
    custom_fields = [
        (f["Name"], f["StringValue"])
        for f in document.get("CustomField", [])
        if printed_fields and f.get("StringValue")
    ]
    context = {
        "title": "Invoice" if is_invoice else "Credit note",
        "is_invoice": is_invoice,
        "number": document.get("DocNumber") or document["Id"],
        "txn_date": _day(document.get("TxnDate")),
        "due_date": _day(document.get("DueDate")) if is_invoice else "",
        "location": document.get("DepartmentRef", {}).get("name", ""),
        "custom_fields": custom_fields,
        "company": {
            "name": info["CompanyName"],
            "legal_name": info["LegalName"],
            "address": _address(info["CompanyAddr"]),
            "email": info["Email"]["Address"],
            "vat_number": "GB123456789",
        },
        "bill_to": [customer.get("CompanyName") or customer["DisplayName"], *_address(document.get("BillAddr"))],
        "lines": lines,
        "totals": totals,
        "vat_summary": vat_summary,
        "memo": document.get("CustomerMemo", {}).get("value", ""),
        "currency": currency,
        "stamp": stamp,
    }
    html = _environment().get_template("document.html").render(**context)
    content: bytes = HTML(string=html, base_url=TEMPLATES.as_uri() + "/", url_fetcher=_offline()).write_pdf()
    return content


def _code_rate(code: str | None) -> str | None:
    """The tax rate a demo tax code applies (the PDF shows the rate's name in the VAT column)."""
    for tax_code in demo.tax_codes():
        if tax_code["Id"] == code:
            rate_ref: str = tax_code["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"]["value"]
            return rate_ref
    return None
