"""An invoice's PDF through the REST API: flexbill's own rendering read back as text (seller, bill-to, lines and
their periods, the tax breakdown, totals, status words, the pay link as text and as a link annotation), the logo,
a long invoice over several pages, user text printed literally, no request leaving the server while rendering,
and the accounting system's PDF served instead once fetched.

The test clock stands at 26 Nov 2026 (tests/conftest.py). The space is London Bridge (GBP, prices exclude VAT);
Acme's December is a 300.00 hot desk at 20% VAT, and a 2 x 25.00 meeting room on 20 Nov 2026 is zero rated:
LB-0001 = 350.00 + 60.00 VAT = 410.00, due 15 Dec 2026.
"""

from __future__ import annotations

import io
import re
import struct
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from flexbill.access.service import create_api_key
from flexbill.accounting.store import AccountingDocumentRow
from flexbill.bootstrap import Context
from flexbill.errors import NotFound
from flexbill.invoicing.documents import invoice_pdf
from flexbill.links import pay_url
from flexbill.web.app import create_app
from tests.support import serving

API = "/api/v1"
Ids = dict[str, str]

ADDRESS = "Bridge Works, 12 Tooley Street\nLondon SE1 2SZ\nUnited Kingdom"
BANK = "Barclays Bank, London\nSort code 20-00-00, account 12345678\nIBAN GB29 NWBK 6016 1331 9268 19"


def ok(client: TestClient, method: str, path: str, body: Any = None, expect: int = 200) -> dict[str, Any]:
    response = client.request(method, f"{API}{path}", json=body)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def png(width: int = 120, height: int = 40) -> bytes:
    """A small valid PNG (stripes of blue), made by hand so the test needs no imaging library."""
    rows = b"".join(b"\x00" + (bytes((20, 80, 160)) if y % 8 < 5 else bytes((240, 240, 240))) * width
                    for y in range(height))  # fmt: skip

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def space(client: TestClient) -> Ids:
    """London Bridge with its invoice details, VAT at 20% and 0%, a 300.00 monthly plan and Acme Ltd with an
    address and a VAT number."""
    ids: Ids = {}
    ids["LB"] = ok(client, "POST", "/locations", {
        "name": "London Bridge", "code": "LB", "currency": "GBP", "timezone": "Europe/London",
        "invoice_number_template": "LB-{number:04}",
    }, expect=201)["id"]  # fmt: skip
    ok(client, "PATCH", f"/locations/{ids['LB']}", {
        "legal_name": "Bridge Works Coworking Ltd", "address": ADDRESS, "email": "billing@bridgeworks.test",
        "phone": "+44 20 7946 0000", "tax_number": "GB123456789", "payment_details": BANK,
    })  # fmt: skip
    ids["vat"] = ok(client, "POST", "/tax-rates", {"name": "VAT 20%", "code": "VAT20", "components": [
        {"name": "VAT", "rate": "20"}]}, expect=201)["id"]  # fmt: skip
    ids["zero"] = ok(client, "POST", "/tax-rates", {"name": "Zero rated", "code": "ZERO", "components": [
        {"name": "VAT", "rate": "0"}]}, expect=201)["id"]  # fmt: skip
    ids["account"] = ok(client, "POST", "/revenue-accounts", {
        "name": "Sales", "code": "200", "tax_rate_id": ids["vat"]}, expect=201)["id"]  # fmt: skip
    ids["plan"] = ok(client, "POST", "/plans", {
        "name": "Hot desk", "price": "300.00", "revenue_account_id": ids["account"]}, expect=201)["id"]  # fmt: skip
    ids["acme"] = customer(client, ids, "Acme Ltd")
    return ids


def customer(client: TestClient, space: Ids, name: str) -> str:
    return str(ok(client, "POST", "/customers", {
        "name": name, "email": "accounts@acme.test", "home_location_id": space["LB"], "address_line1": "1 High St",
        "city": "London", "postal_code": "E1 6AN", "country": "GB", "tax_number": "GB987654321",
    }, expect=201)["id"])  # fmt: skip


def membership(client: TestClient, space: Ids, customer_id: str, start: str) -> None:
    ok(client, "POST", "/memberships", {
        "customer_id": customer_id, "plan_id": space["plan"], "location_id": space["LB"], "start_date": start,
    }, expect=201)  # fmt: skip


def fee(client: TestClient, space: Ids, customer_id: str, description: str, *, zero_rated: bool = False) -> None:
    ok(client, "POST", "/fees", {
        "customer_id": customer_id, "location_id": space["LB"], "date": "2026-11-20", "description": description,
        "quantity": "2", "unit_price": "25.00", "revenue_account_id": space["account"],
        "tax_rate_id": space["zero"] if zero_rated else None,
    }, expect=201)  # fmt: skip


def bill(client: TestClient, day: str) -> dict[str, Any]:
    (invoice,) = ok(client, "POST", "/bill-runs", {"date": day}, expect=201)["invoices"]
    return invoice


@pytest.fixture
def invoice(client: TestClient, space: Ids) -> dict[str, Any]:
    """LB-0001 for December: the hot desk and the zero-rated meeting room, 410.00 due on 15 Dec 2026."""
    membership(client, space, space["acme"], "2026-12-01")
    fee(client, space, space["acme"], "Meeting room, 2 hours", zero_rated=True)
    issued = bill(client, "2026-12-01")
    assert (issued["number"], issued["total"], issued["due_date"]) == ("LB-0001", "410.00", "2026-12-15")
    return issued


def get_pdf(client: TestClient, invoice_id: str) -> bytes:
    response = client.get(f"{API}/invoices/{invoice_id}/pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    return response.content


def page_texts(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def text_of(content: bytes) -> str:
    return "\n".join(page_texts(content))


def in_a_row(text: str, *cells: str) -> bool:
    """The cells follow each other in the text with only white space between them (a table row, which the text
    extraction may break over lines)."""
    return re.search(r"\s+".join(re.escape(cell) for cell in cells), text) is not None


def squashed(text: str) -> str:
    """Text without white space: a long URL wraps over lines on the page."""
    return "".join(text.split())


def link_targets(content: bytes) -> list[str]:
    targets = []
    for page in PdfReader(io.BytesIO(content)).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A")
            if action is not None and "/URI" in action:
                targets.append(str(action["/URI"]))
    return targets


def images_on(page_resources: DictionaryObject) -> list[str]:
    objects = page_resources.get("/XObject") or {}
    return [name for name, ref in objects.items() if ref.get_object()["/Subtype"] == "/Image"]


# --- what the PDF says ------------------------------------------------------------------------------------------


def test_the_pdf_of_an_issued_invoice_shows_seller_bill_to_lines_tax_breakdown_totals_and_the_pay_link(
    client: TestClient, ctx: Context, invoice: dict[str, Any]
) -> None:
    response = client.get(f"{API}/invoices/{invoice['id']}/pdf")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'inline; filename="LB-0001.pdf"'
    assert response.headers["x-flexbill-pdf-source"] == "flexbill"
    text = text_of(response.content)

    # The seller, from the location's details; the bill-to, as the invoice stored it.
    for expected in ("Bridge Works Coworking Ltd", "Bridge Works, 12 Tooley Street", "London SE1 2SZ",
                     "United Kingdom", "billing@bridgeworks.test", "+44 20 7946 0000", "VAT number: GB123456789",
                     "Acme Ltd", "1 High St", "London E1 6AN", "VAT number: GB987654321"):  # fmt: skip
        assert expected in text, expected
    assert "Invoice number LB-0001" in text
    assert "Issue date 1 Dec 2026" in text
    assert "Due date 15 Dec 2026" in text
    assert "Status Awaiting payment" in text

    # Each line with the period it covers, its quantity, unit price, rate and amount.
    assert in_a_row(text, "Hot desk, 1-31 Dec 2026", "1", "£300.00", "20%", "£300.00")  # the period in its name
    assert in_a_row(text, "Meeting room, 2 hours", "20 Nov 2026", "2", "£25.00", "0%", "£50.00")
    assert "Amounts exclude VAT" in text
    # The tax breakdown, one row per rate: the net at that rate and its tax.
    assert "VAT 20% £300.00 £60.00" in text
    assert "VAT 0% £50.00 £0.00" in text
    assert in_a_row(text, "Subtotal", "£350.00", "VAT", "£60.00", "Total GBP", "£410.00", "Amount due", "£410.00")
    assert "Amount paid" not in text

    # How to pay: the pay link, printed and clickable, and the bank details with the invoice number to quote.
    link = pay_url(ctx.settings, uuid.UUID(invoice["id"]))
    assert link in squashed(text)
    assert set(link_targets(response.content)) == {link}
    for expected in ("Pay £410.00 online", "Barclays Bank, London", "Sort code 20-00-00, account 12345678",
                     "Reference: LB-0001"):  # fmt: skip
        assert expected in text, expected


def test_the_pdf_carries_its_title_author_and_the_issue_date_as_creation_date_and_renders_the_same_bytes_twice(
    ctx: Context, invoice: dict[str, Any]
) -> None:
    with ctx.readers() as db:
        first = invoice_pdf(db, ctx.settings, ctx.clock, uuid.UUID(invoice["id"]))
        again = invoice_pdf(db, ctx.settings, ctx.clock, uuid.UUID(invoice["id"]))
    assert (first.filename, first.source) == ("LB-0001.pdf", "flexbill")
    metadata = PdfReader(io.BytesIO(first.content)).metadata
    assert metadata is not None
    assert (metadata.title, metadata.author) == ("Invoice LB-0001", "Bridge Works Coworking Ltd")
    assert metadata["/CreationDate"] == "D:20261201"
    assert "/ModDate" not in metadata
    assert again.content == first.content


def test_the_tax_breakdown_of_a_rate_of_two_components_is_the_apis(client: TestClient, space: Ids) -> None:
    """GST 5% + QST 9.975% on 300.00: each component taxed on its own, 15.00 and 29.93 (29.925 rounded half up)."""
    gst_qst = ok(client, "POST", "/tax-rates", {"name": "GST + QST", "code": "GST-QST", "components": [
        {"name": "GST", "rate": "5"}, {"name": "QST", "rate": "9.975"}]}, expect=201)["id"]  # fmt: skip
    ok(client, "PATCH", f"/customers/{space['acme']}", {"tax_rate_id": gst_qst})
    membership(client, space, space["acme"], "2026-12-01")
    issued = bill(client, "2026-12-01")
    rows = [(row["component"], row["rate"], row["taxable_amount"], row["tax_amount"])
            for row in issued["tax_breakdown"]]  # fmt: skip
    assert rows == [("GST", "5", "300.00", "15.00"), ("QST", "9.975", "300.00", "29.93")]

    text = text_of(get_pdf(client, issued["id"]))
    for component, rate, taxable, tax in rows:
        assert f"{component} {rate}% £{taxable} £{tax}" in text
    assert "TAX SUMMARY" in text  # two names of tax: the invoice speaks of tax
    assert "Amounts exclude tax" in text
    assert "Total GBP £344.93" in text


def test_a_location_whose_prices_include_tax_prints_gross_lines_in_its_currency(client: TestClient, space: Ids) -> None:
    """Paris, in euros, prices including 20% VAT: the 300.00 plan is 250.00 net + 50.00 VAT."""
    paris = ok(client, "POST", "/locations", {
        "name": "Paris", "code": "PA", "currency": "EUR", "timezone": "Europe/Paris", "prices_include_tax": True,
        "invoice_number_template": "PA-{number:04}", "legal_name": "Espace Paris SAS", "tax_number": "FR12345678901",
    }, expect=201)["id"]  # fmt: skip
    member = ok(client, "POST", "/customers", {"name": "Société Générale de Café", "email": "compta@cafe.test",
                "home_location_id": paris}, expect=201)["id"]  # fmt: skip
    ok(client, "POST", "/memberships", {"customer_id": member, "plan_id": space["plan"], "location_id": paris,
       "start_date": "2026-12-01", "quantity": "5"}, expect=201)  # fmt: skip
    issued = bill(client, "2026-12-01")
    assert (issued["subtotal"], issued["tax_total"], issued["total"]) == ("1250.00", "250.00", "1500.00")

    response = client.get(f"{API}/invoices/{issued['id']}/pdf")
    assert response.headers["content-disposition"] == 'inline; filename="PA-0001.pdf"'
    text = text_of(response.content)
    assert "Espace Paris SAS" in text
    assert "VAT number: FR12345678901" in text
    assert "Société Générale de Café" in text
    assert in_a_row(text, "Hot desk, 1-31 Dec 2026", "5", "€300.00", "20%", "€1,500.00")  # gross, as priced
    assert "Amounts include VAT" in text
    assert in_a_row(text, "VAT 20%", "€1,250.00", "€250.00")
    assert in_a_row(text, "Total excl. VAT", "€1,250.00", "VAT", "€250.00", "Total EUR", "€1,500.00")


def test_a_partly_paid_and_credited_invoice_shows_what_was_paid_credited_and_is_still_due(
    client: TestClient, invoice: dict[str, Any]
) -> None:
    ok(client, "POST", f"/invoices/{invoice['id']}/payments", {"date": "2026-12-02", "amount": "100.00"}, expect=201)
    ok(client, "POST", f"/invoices/{invoice['id']}/credit-notes", {"amount": "10.00", "reason": "Goodwill",
       "date": "2026-12-02"}, expect=201)  # fmt: skip
    content = get_pdf(client, invoice["id"])
    text = text_of(content)
    assert "Status Partially paid" in text
    assert in_a_row(
        text, "Total GBP", "£410.00", "Amount paid", "£100.00", "Credited", "£10.00", "Amount due", "£300.00"
    )
    assert "Pay £300.00 online" in text
    assert len(link_targets(content)) >= 1


def test_a_paid_invoice_says_paid_and_carries_no_pay_link(
    client: TestClient, ctx: Context, invoice: dict[str, Any]
) -> None:
    ok(client, "POST", f"/invoices/{invoice['id']}/payments", {"date": "2026-12-02", "amount": "410.00"}, expect=201)
    content = get_pdf(client, invoice["id"])
    text = text_of(content)
    assert "Status Paid" in text
    assert "Paid in full" in text
    assert in_a_row(text, "Amount paid", "£410.00", "Amount due", "£0.00")
    assert link_targets(content) == []
    assert "/pay/" not in text
    assert "PAY ONLINE" not in text
    assert "Sort code" not in text  # nothing left to pay: no bank details either


def test_an_invoice_past_its_due_date_at_the_location_is_overdue(client: TestClient, ctx: Context, space: Ids) -> None:
    """Billed on 1 Nov 2026, due 15 Nov: on 26 Nov it is overdue, and still payable online."""
    membership(client, space, space["acme"], "2026-11-01")
    issued = bill(client, "2026-11-01")
    assert (issued["due_date"], issued["overdue"]) == ("2026-11-15", True)
    content = get_pdf(client, issued["id"])
    text = text_of(content)
    assert "Status Overdue" in text
    assert "Overdue: was due 15 Nov 2026" in text
    assert in_a_row(text, "Hot desk, 1-30 Nov 2026", "1", "£300.00", "20%", "£300.00")
    assert link_targets(content)[0] == pay_url(ctx.settings, uuid.UUID(issued["id"]))


def test_a_draft_is_marked_draft_has_no_number_and_asks_for_no_payment(client: TestClient, space: Ids) -> None:
    ok(client, "PATCH", "/settings/billing", {"issue_mode": "draft"})
    membership(client, space, space["acme"], "2026-12-01")
    draft = bill(client, "2026-12-01")
    assert (draft["status"], draft["number"]) == ("draft", None)

    response = client.get(f"{API}/invoices/{draft['id']}/pdf")
    assert response.status_code == 200
    short = uuid.UUID(draft["id"]).hex[-8:]
    assert response.headers["content-disposition"] == f'inline; filename="draft-{short}.pdf"'
    text = text_of(response.content)
    assert "DRAFT" in text  # the watermark
    assert "Draft: this invoice has not been issued and is not a request for payment." in text
    assert "Invoice number Draft" in text
    assert "Status Draft" in text
    assert "Total GBP £360.00" in text
    assert "Amount due" not in text
    assert link_targets(response.content) == []
    metadata = PdfReader(io.BytesIO(response.content)).metadata
    assert metadata is not None
    assert metadata.title == "Draft invoice"


def test_a_void_invoice_is_marked_void_and_asks_for_no_payment(client: TestClient, invoice: dict[str, Any]) -> None:
    ok(client, "POST", f"/invoices/{invoice['id']}/void")
    content = get_pdf(client, invoice["id"])
    text = text_of(content)
    assert "VOID" in text  # the watermark
    assert "Void: this invoice was cancelled on 26 Nov 2026 and is not payable." in text
    assert "Status Void" in text
    assert "Invoice number LB-0001" in text
    assert "Total GBP £410.00" in text
    assert "Amount due" not in text
    assert link_targets(content) == []


# --- the logo, long invoices, user text --------------------------------------------------------------------------


def test_the_logo_is_embedded_as_an_image_on_the_first_page(client: TestClient, space: Ids) -> None:
    membership(client, space, space["acme"], "2026-12-01")
    issued = bill(client, "2026-12-01")
    without = PdfReader(io.BytesIO(get_pdf(client, issued["id"])))
    assert images_on(without.pages[0]["/Resources"]) == []

    response = client.put(f"{API}/locations/{space['LB']}/logo", content=png(), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["has_logo"] is True
    reader = PdfReader(io.BytesIO(get_pdf(client, issued["id"])))
    (image,) = images_on(reader.pages[0]["/Resources"])
    embedded = reader.pages[0]["/Resources"]["/XObject"][image].get_object()
    assert (embedded["/Width"], embedded["/Height"]) == (120, 40)


def test_a_long_invoice_flows_over_pages_with_the_header_on_each_and_the_totals_once_at_the_end(
    client: TestClient, space: Ids
) -> None:
    for number in range(1, 61):
        fee(client, space, space["acme"], f"Meeting room booking no. {number:02}")
    issued = bill(client, "2026-12-01")
    assert len(issued["lines"]) == 60
    assert issued["total"] == "3600.00"  # 60 x 50.00 + 20% VAT

    pages = page_texts(get_pdf(client, issued["id"]))
    assert len(pages) >= 2
    for index, page in enumerate(pages, start=1):
        assert "DESCRIPTION QTY UNIT PRICE VAT AMOUNT" in page
        assert f"Page {index} of {len(pages)}" in page
        assert "Invoice LB-0001" in page
    everything = "\n".join(pages)
    for number in range(1, 61):
        assert everything.count(f"Meeting room booking no. {number:02}") == 1
    last = pages[-1]
    assert in_a_row(
        last, "Subtotal", "£3,000.00", "VAT", "£600.00", "Total GBP", "£3,600.00", "Amount due", "£3,600.00"
    )
    assert "VAT 20% £3,000.00 £600.00" in last
    for page in pages[:-1]:
        assert "Subtotal" not in page
        assert "Amount due £3,600.00" not in page


def test_user_text_with_html_is_printed_literally(client: TestClient, space: Ids) -> None:
    ok(client, "PATCH", f"/locations/{space['LB']}", {"legal_name": "Bridge & <i>Works</i>",
       "payment_details": "<a href='http://evil.test'>pay here</a>"})  # fmt: skip
    rascal = customer(client, space, "<script>alert('x')</script> & Sons")
    fee(client, space, rascal, "Tea & <b>biscuits</b> </td></tr></table>")
    issued = bill(client, "2026-12-01")
    content = get_pdf(client, issued["id"])
    text = text_of(content)
    assert "Bridge & <i>Works</i>" in text
    assert "<script>alert('x')</script> & Sons" in text
    assert "Tea & <b>biscuits</b> </td></tr></table>" in text
    assert "<a href='http://evil.test'>pay here</a>" in text
    assert "http://evil.test" not in link_targets(content)
    assert "Total GBP £60.00" in text  # the table was not broken open by the description


def test_rendering_makes_no_request_even_for_an_svg_logo_that_names_urls(
    client: TestClient, space: Ids, caplog: pytest.LogCaptureFixture
) -> None:
    requests: list[str] = []

    async def spy(scope: dict[str, Any], receive: Any, send: Any) -> None:
        requests.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"image/png")]})
        await send({"type": "http.response.body", "body": png()})

    membership(client, space, space["acme"], "2026-12-01")
    issued = bill(client, "2026-12-01")
    with serving(spy) as base_url:
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="200" '
            f'height="50"><rect width="200" height="50" fill="#246"/>'
            f'<image href="{base_url}/svg-image.png" width="50" height="50"/>'
            f'<image xlink:href="file:///etc/hostname" width="50" height="50"/></svg>'
        ).encode()
        response = client.put(f"{API}/locations/{space['LB']}/logo", content=svg,
                              headers={"Content-Type": "image/svg+xml"})  # fmt: skip
        assert response.status_code == 200, response.text
        content = get_pdf(client, issued["id"])
    assert requests == []
    refused = " ".join(record.getMessage() for record in caplog.records)
    assert f"URI uses disallowed protocol: {base_url}/svg-image.png" in refused
    assert "URI uses disallowed protocol: file:///etc/hostname" in refused
    assert "Total GBP £360.00" in text_of(content)


# --- whose PDF ----------------------------------------------------------------------------------------------------


def test_the_accounting_systems_pdf_is_served_once_it_has_been_fetched(
    client: TestClient, ctx: Context, invoice: dict[str, Any]
) -> None:
    ours = client.get(f"{API}/invoices/{invoice['id']}/pdf")
    assert ours.headers["x-flexbill-pdf-source"] == "flexbill"
    theirs = b"%PDF-1.4 the accounting system's own invoice"
    with ctx.sessions() as db, db.begin():
        db.add(AccountingDocumentRow(invoice_id=uuid.UUID(invoice["id"]), external_id="xero-invoice-1",
                                     content=theirs, fetched_at=datetime(2026, 11, 26, 12, tzinfo=UTC)))  # fmt: skip

    response = client.get(f"{API}/invoices/{invoice['id']}/pdf")
    assert response.status_code == 200
    assert response.content == theirs
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-flexbill-pdf-source"] == "accounting"
    assert response.headers["content-disposition"] == 'inline; filename="LB-0001.pdf"'


def test_an_unknown_invoice_is_a_404_with_the_usual_error_body(client: TestClient, ctx: Context) -> None:
    unknown = uuid.UUID("01a2186c-0000-7000-8000-000000000000")
    response = client.get(f"{API}/invoices/{unknown}/pdf")
    assert response.status_code == 404
    assert response.json() == {
        "message": f"invoice {unknown} does not exist",
        "field": None,
        "errors": [{"field": None, "message": f"invoice {unknown} does not exist"}],
    }
    with ctx.readers() as db, pytest.raises(NotFound, match="does not exist"):
        invoice_pdf(db, ctx.settings, ctx.clock, unknown)


def test_the_pdf_needs_an_api_key_and_the_read_scope_is_enough(ctx: Context, invoice: dict[str, Any]) -> None:
    path = f"{API}/invoices/{invoice['id']}/pdf"
    anonymous = TestClient(create_app(ctx)).get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/json"
    with ctx.sessions() as db, db.begin():
        key = create_api_key(db, "reader", frozenset({"read"})).key
    read_only = TestClient(create_app(ctx), headers={"Authorization": f"Bearer {key}"}).get(path)
    assert read_only.status_code == 200
    assert read_only.headers["x-flexbill-pdf-source"] == "flexbill"


def test_the_openapi_document_describes_the_pdf(client: TestClient) -> None:
    operation = client.get(f"{API}/openapi.json").json()["paths"]["/api/v1/invoices/{invoice_id}/pdf"]["get"]
    ok_response = operation["responses"]["200"]
    assert list(ok_response["content"]) == ["application/pdf"]
    assert ok_response["headers"]["X-Flexbill-Pdf-Source"]["schema"]["enum"] == ["accounting", "flexbill"]
