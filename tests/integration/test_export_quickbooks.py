"""The QuickBooks Online export through the API, the CLI and the console: the worked example, dates, the split into
files (100 invoices, one amount type per file) with a README, names from a QuickBooks connection's mappings, and
what is refused.

The test clock stands at 26 Nov 2026 (tests/conftest.py). The space is test_export_xero's: London Bridge (GBP,
prices exclusive of tax), VAT at 20%, revenue accounts 200 "Desks" and 210 "Rooms", a 300.00 monthly plan.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from flexbill.accounting.store import AccountingConnectionRow, ConnectionLocationRow
from flexbill.bootstrap import Context
from tests.integration import test_export_xero as xero_export
from tests.integration.test_export_xero import (
    EXPORT,
    VAT,
    Ids,
    _member,
    bill,
    customer,
    invoke,
    location,
    membership,
    post,
)
from tests.web import signed_in_staff

# The Xero export tests' fixtures: the space (locations, tax rate, accounts, plan) and the command line's settings.
space = xero_export.space
env = xero_export.env

HEADER = (
    "Invoice no,Customer,Invoice date,Due date,Terms,Location,Memo,Item(Product/Service),Item description,"
    "Item quantity,Item rate,Item amount,Item tax code,Item tax amount,Service date,Currency code"
)


def quickbooks_csv(client: TestClient, **params: str) -> tuple[str, str]:
    """The single file of an export: its name and text."""
    response = client.get(EXPORT, params={"format": "quickbooks", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    return disposition.removeprefix('attachment; filename="').removesuffix('"'), response.text


def quickbooks_zip(client: TestClient, **params: str) -> dict[str, str]:
    response = client.get(EXPORT, params={"format": "quickbooks", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="quickbooks-invoices.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def records(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    assert ",".join(header) == HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_the_worked_example_through_the_api(client: TestClient, space: Ids) -> None:
    """Acme has 2 hot desks from 1 Dec 2026 at 10% off and booked a meeting room for 2 hours at 25.00 on
    20 Nov 2026. The run of 1 Dec 2026 bills LB-0001, due 15 Dec 2026: 2 x 300.00 less 10% = 540.00 (VAT 108.00)
    and 2 x 25.00 = 50.00 (VAT 10.00); 590.00 + 118.00 = 708.00. QuickBooks takes no discount, so the desks are
    2 x 270.00; the items and the tax code are named after our revenue accounts and tax rate."""
    acme = customer(client, "Acme Ltd", space["LB"])
    membership(client, space, acme, space["LB"], "2026-12-01", quantity="2", discount_type="percent",
               discount_value="10")  # fmt: skip
    post(client, "/fees", {
        "customer_id": acme, "location_id": space["LB"], "date": "2026-11-20", "description": "Meeting room",
        "quantity": "2", "unit_price": "25.00", "revenue_account_id": space["rooms"],
    })  # fmt: skip
    (invoice,) = bill(client, "2026-12-01")
    assert (invoice["number"], invoice["total"]) == ("LB-0001", "708.00")

    name, text = quickbooks_csv(client)

    assert name == "quickbooks-invoices-exclusive.csv"
    head = "LB-0001,Acme Ltd,01/12/2026,15/12/2026,,,20 Nov - 31 Dec 2026"
    assert text == (
        f"{HEADER}\r\n"
        f'{head},Desks,"Hot desk, 1-31 Dec 2026 (2 x 300.00 less a 10% discount of 60.00)",2,270.00,540.00,'
        f"{VAT},108.00,01/12/2026,GBP\r\n"
        f'{head},Rooms,"Meeting room, 20 Nov 2026",2,25.00,50.00,{VAT},10.00,20/11/2026,GBP\r\n'
    )


def test_dates_month_first_and_what_is_refused(client: TestClient, space: Ids, env: None, tmp_path: Path) -> None:
    membership(client, space, customer(client, "Acme Ltd", space["LB"]), space["LB"], "2026-12-01")
    bill(client, "2026-12-01")

    (row,) = records(quickbooks_csv(client, date_order="mdy")[1])
    assert (row["Invoice date"], row["Due date"], row["Service date"]) == ("12/01/2026", "12/15/2026", "12/01/2026")

    out = tmp_path / "december.csv"
    code, stdout, err = invoke("export", "invoices", "--format", "quickbooks", "--date-order", "mdy", "--out",
                               str(out))  # fmt: skip
    assert code == 0, err
    (row,) = records(out.read_text(encoding="utf-8"))
    assert row["Invoice date"] == "12/01/2026"
    assert f"Wrote {out}: 1 invoices, 1 lines; amounts are tax exclusive." in stdout
    assert "choose the date format MM/DD/YYYY" in stdout

    refused = client.get(EXPORT, params={"format": "flexbill", "date_order": "mdy"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "date_order"
    assert "applies only to format=xero and format=quickbooks" in refused.json()["message"]
    assert client.get(EXPORT, params={"format": "quickbooks", "date_order": "ymd"}).status_code == 422
    drafts = client.get(EXPORT, params={"format": "quickbooks", "status": "draft"})
    assert (drafts.status_code, drafts.json()["field"]) == (422, "status")
    assert "drafts cannot be exported for QuickBooks Online" in drafts.json()["message"]
    code, _, err = invoke("export", "invoices", "--date-order", "mdy", "--out", str(out))
    assert (code, "--date-order applies only to --format xero or quickbooks" in err) == (1, True)


def test_101_invoices_make_two_files_with_a_readme(
    ctx: Context, client: TestClient, space: Ids, env: None, tmp_path: Path
) -> None:
    """101 members from 10 Nov 2026, billed by the run of 1 Dec 2026: 101 invoices of two lines each. QuickBooks
    takes 100 invoices from a file, so the 101st goes in a second file."""
    with ctx.sessions() as db, db.begin():
        for n in range(101):
            _member(db, uuid.UUID(space["LB"]), uuid.UUID(space["plan"]), f"Member {n:03}")
    assert len(bill(client, "2026-12-01")) == 101

    files = quickbooks_zip(client, date_order="mdy")

    assert sorted(files) == ["README.txt", "quickbooks-invoices-exclusive-1.csv", "quickbooks-invoices-exclusive-2.csv"]
    first = records(files["quickbooks-invoices-exclusive-1.csv"])
    second = records(files["quickbooks-invoices-exclusive-2.csv"])
    assert (len({row["Invoice no"] for row in first}), len(first)) == (100, 200)
    assert ({row["Invoice no"] for row in second}, len(second)) == ({"LB-0101"}, 2)
    guide = files["README.txt"]
    assert "Settings > Import data > Invoices" in guide
    assert "choose MM/DD/YYYY" in guide
    assert "quickbooks-invoices-exclusive-2.csv: 1 invoices, amounts tax exclusive\r\n" in guide

    out = tmp_path / "december.csv"
    code, stdout, err = invoke("export", "invoices", "--format", "quickbooks", "--out", str(out))
    assert code == 0, err
    assert sorted(path.name for path in tmp_path.glob("december*")) == [
        "december-exclusive-1.csv", "december-exclusive-2.csv",
    ]  # fmt: skip
    assert not list(tmp_path.glob(".*.partial"))
    second_on_disk = records((tmp_path / "december-exclusive-2.csv").read_text(encoding="utf-8"))
    assert second_on_disk[0]["Invoice date"] == "01/12/2026"  # day first without --date-order
    assert f"Wrote {tmp_path / 'december-exclusive-2.csv'}: 1 invoices, 2 lines; amounts are tax exclusive." in stdout
    assert "choose the date format DD/MM/YYYY" in stdout


def test_inclusive_and_exclusive_invoices_go_in_separate_files(
    client: TestClient, space: Ids, env: None, tmp_path: Path
) -> None:
    """Paris prices include tax and bill in euros: its desk is 300.00 with 50.00 VAT in it. London's is 300.00
    plus 60.00."""
    paris = location(client, "PA", "EUR", inclusive=True)
    membership(client, space, customer(client, "Acme Ltd", space["LB"]), space["LB"], "2026-12-01")
    membership(client, space, customer(client, "Cafe SARL", paris), paris, "2026-12-01")
    bill(client, "2026-12-01")

    files = quickbooks_zip(client)

    assert sorted(files) == ["README.txt", "quickbooks-invoices-exclusive-1.csv", "quickbooks-invoices-inclusive-1.csv"]
    (london,) = records(files["quickbooks-invoices-exclusive-1.csv"])
    (paris_row,) = records(files["quickbooks-invoices-inclusive-1.csv"])
    assert (london["Item amount"], london["Item tax amount"], london["Currency code"]) == ("300.00", "60.00", "GBP")
    assert (paris_row["Item amount"], paris_row["Item tax amount"], paris_row["Currency code"]) == (
        "300.00", "50.00", "EUR",
    )  # fmt: skip
    assert "quickbooks-invoices-inclusive-1.csv: 1 invoices, amounts tax inclusive" in files["README.txt"]

    folder = tmp_path / "quickbooks"
    folder.mkdir()
    code, stdout, err = invoke("export", "invoices", "--format", "quickbooks", "--output", str(folder))
    assert code == 0, err
    assert sorted(path.name for path in folder.iterdir()) == [
        "quickbooks-invoices-exclusive-1.csv", "quickbooks-invoices-inclusive-1.csv",
    ]  # fmt: skip
    assert "amounts are tax inclusive" in stdout


def _connect_to_quickbooks(ctx: Context, location_id: str, mappings: dict[str, Any]) -> None:
    with ctx.sessions() as db, db.begin():
        connection = AccountingConnectionRow(
            provider="quickbooks", status="connected", redirect_uri="http://127.0.0.1/", mappings=mappings
        )
        db.add(connection)
        db.flush()
        db.add(ConnectionLocationRow(location_id=uuid.UUID(location_id), connection_id=connection.id))


def _set_mappings(ctx: Context, mappings: dict[str, Any]) -> None:
    with ctx.sessions() as db, db.begin():
        for connection in db.scalars(select(AccountingConnectionRow)):
            connection.mappings = mappings


def test_a_quickbooks_connection_names_the_tax_codes_and_must_cover_every_line(
    ctx: Context, client: TestClient, space: Ids
) -> None:
    """The mappings keep QuickBooks ids (items 7 and 8 for accounts 200 and 210, tax code 3 for VAT20) and their
    names in QuickBooks; a name not kept (mappings stored before names were) falls back to our revenue account's.
    The location's tracking names its QuickBooks location. A mapping that leaves out a code the invoices use
    refuses the export, naming the code."""
    acme = customer(client, "Acme Ltd", space["LB"])
    membership(client, space, acme, space["LB"], "2026-12-01")
    post(client, "/fees", {
        "customer_id": acme, "location_id": space["LB"], "date": "2026-11-20", "description": "Meeting room",
        "unit_price": "25.00", "revenue_account_id": space["rooms"],
    })  # fmt: skip
    bill(client, "2026-12-01")
    taxes = {"tax_rates": {"VAT20": "3"}, "tax_rate_names": {"3": "20.0% S"}}
    _connect_to_quickbooks(ctx, space["LB"], {"accounts": {"200": "7"}, **taxes})

    refused = client.get(EXPORT, params={"format": "quickbooks"})
    assert refused.status_code == 409
    assert refused.json()["message"] == (
        "the QuickBooks Online codes do not map every code the invoices use, so nothing was exported; map these "
        "and export again: location LB: revenue account 210"
    )

    tracking = {"LB": {"category": "Location", "option": "London Bridge"}}
    _set_mappings(ctx, {"accounts": {"200": "7", "210": "8"}, **taxes, "tracking": tracking})
    rows = records(quickbooks_csv(client)[1])
    assert [(row["Item(Product/Service)"], row["Item tax code"], row["Location"]) for row in rows] == [
        ("Desks", "20.0% S", "London Bridge"), ("Rooms", "20.0% S", "London Bridge"),
    ]  # fmt: skip
    names = {"account_names": {"7": "Memberships", "8": "Meeting rooms"}}
    _set_mappings(ctx, {"accounts": {"200": "7", "210": "8"}, **taxes, **names, "tracking": tracking})
    rows = records(quickbooks_csv(client)[1])
    assert [row["Item(Product/Service)"] for row in rows] == ["Memberships", "Meeting rooms"]


def test_the_console_downloads_the_quickbooks_file_as_the_api_does(
    ctx: Context, client: TestClient, space: Ids
) -> None:
    membership(client, space, customer(client, "Acme Ltd", space["LB"]), space["LB"], "2026-12-01")
    bill(client, "2026-12-01")
    owner = signed_in_staff(ctx)
    page = owner.get("/admin/exports", params={"format": "quickbooks"})
    assert '<input type="radio" name="format" value="quickbooks" checked>' in page.text

    download = owner.get("/admin/exports/invoices.csv", params={"format": "quickbooks", "date_order": "mdy"})

    assert download.status_code == 200, download.text
    assert download.headers["content-disposition"] == 'attachment; filename="quickbooks-invoices-exclusive.csv"'
    assert download.content == client.get(EXPORT, params={"format": "quickbooks", "date_order": "mdy"}).content
    (row,) = records(download.text)
    assert (row["Invoice no"], row["Invoice date"]) == ("LB-0001", "12/01/2026")
    drafts = owner.get("/admin/exports/invoices.csv", params={"format": "quickbooks", "status": "draft"})
    assert drafts.status_code == 422
    assert "drafts cannot be exported for QuickBooks Online" in drafts.text
