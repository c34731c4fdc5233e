"""The Xero export through the API and the CLI: the worked example, dates, the split into files (500 invoices, one
amount type per file), fixed discounts, a mapping that misses codes, and which invoices are exported.

The test clock stands at 26 Nov 2026 (tests/conftest.py). The plan costs 300.00 a month; the tax rate is named as
Xero names its 20% rate, so flexbill's own codes (the default) are what a matching Xero organisation expects.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from flexbill.bootstrap import Context
from flexbill.cli import app
from flexbill.customers import service as customers
from flexbill.invoicing.export import XeroCodes, XeroCodesFor
from flexbill.settings import get_settings

API = "/api/v1"
EXPORT = f"{API}/exports/invoices.csv"
HEADER = (
    "*ContactName,EmailAddress,POAddressLine1,POAddressLine2,POAddressLine3,POAddressLine4,POCity,PORegion,"
    "POPostalCode,POCountry,*InvoiceNumber,Reference,*InvoiceDate,*DueDate,InventoryItemCode,*Description,"
    "*Quantity,*UnitAmount,Discount,*AccountCode,*TaxType,TrackingName1,TrackingOption1,TrackingName2,"
    "TrackingOption2,Currency,BrandingTheme"
)
VAT = "20% (VAT on Income)"

Ids = dict[str, str]


def post(client: TestClient, path: str, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    response = client.post(f"{API}{path}", json=body)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def location(client: TestClient, code: str, currency: str, *, inclusive: bool = False) -> str:
    body = {"name": f"{code} space", "code": code, "currency": currency, "prices_include_tax": inclusive,
            "invoice_number_template": f"{code}-{{number:04}}"}  # fmt: skip
    return str(post(client, "/locations", body)["id"])


@pytest.fixture
def space(client: TestClient) -> Ids:
    """London Bridge (GBP, prices exclusive of tax), VAT at 20% named as in Xero, revenue accounts 200 (desks) and
    210 (rooms), and a 300.00 monthly plan."""
    ids: Ids = {"LB": location(client, "LB", "GBP")}
    ids["vat"] = post(client, "/tax-rates", {"name": VAT, "code": "VAT20", "components": [
        {"name": "VAT", "rate": "20"}]})["id"]  # fmt: skip
    ids["desks"] = post(client, "/revenue-accounts", {"name": "Desks", "code": "200", "tax_rate_id": ids["vat"]})["id"]
    ids["rooms"] = post(client, "/revenue-accounts", {"name": "Rooms", "code": "210", "tax_rate_id": ids["vat"]})["id"]
    ids["plan"] = post(client, "/plans", {"name": "Hot desk", "price": "300.00", "revenue_account_id": ids["desks"]})[
        "id"
    ]
    return ids


def customer(client: TestClient, name: str, at: str, **fields: str) -> str:
    email = f"billing@{name.split()[0].lower()}.test"
    return str(post(client, "/customers", {"name": name, "email": email, "home_location_id": at, **fields})["id"])


def membership(client: TestClient, space: Ids, who: str, at: str, start: str, **fields: str) -> str:
    body = {"customer_id": who, "plan_id": space["plan"], "location_id": at, "start_date": start, **fields}
    return str(post(client, "/memberships", body)["id"])


def bill(client: TestClient, day: str) -> list[dict[str, Any]]:
    invoices: list[dict[str, Any]] = post(client, "/bill-runs", {"date": day})["invoices"]
    return invoices


def xero_csv(client: TestClient, **params: str) -> tuple[str, str]:
    """The single file of an export: its name and text."""
    response = client.get(EXPORT, params={"format": "xero", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    return disposition.removeprefix('attachment; filename="').removesuffix('"'), response.text


def xero_zip(client: TestClient, **params: str) -> dict[str, str]:
    response = client.get(EXPORT, params={"format": "xero", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="xero-invoices.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def records(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    assert ",".join(header) == HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_the_worked_example_through_the_api(client: TestClient, space: Ids) -> None:
    """Acme, at 1 High St, London E1 6AN, GB, has 2 hot desks from 1 Dec 2026 at 10% off and booked a meeting
    room for 2 hours at 25.00 on 20 Nov 2026. The run of 1 Dec 2026 bills LB-0001, due 15 Dec 2026:
    2 x 300.00 less 10% = 540.00 and 2 x 25.00 = 50.00; 590.00 + 118.00 VAT = 708.00."""
    acme = customer(client, "Acme Ltd", space["LB"], address_line1="1 High St", city="London",
                    postal_code="E1 6AN", country="GB")  # fmt: skip
    membership(client, space, acme, space["LB"], "2026-12-01", quantity="2", discount_type="percent",
               discount_value="10")  # fmt: skip
    post(client, "/fees", {
        "customer_id": acme, "location_id": space["LB"], "date": "2026-11-20", "description": "Meeting room",
        "quantity": "2", "unit_price": "25.00", "revenue_account_id": space["rooms"],
    })  # fmt: skip
    (invoice,) = bill(client, "2026-12-01")
    assert (invoice["number"], invoice["subtotal"], invoice["tax_total"], invoice["total"]) == (
        "LB-0001", "590.00", "118.00", "708.00",
    )  # fmt: skip

    name, text = xero_csv(client)

    assert name == "xero-invoices-exclusive.csv"
    head = (
        "Acme Ltd,billing@acme.test,1 High St,,,,London,,E1 6AN,GB,LB-0001,20 Nov - 31 Dec 2026,01/12/2026,15/12/2026,"
    )
    assert text == (
        f"{HEADER}\r\n"
        f'{head},"Hot desk, 1-31 Dec 2026",2,300.00,10,200,{VAT},,,,,GBP,\r\n'
        f'{head},"Meeting room, 20 Nov 2026",2,25.00,,210,{VAT},,,,,GBP,\r\n'
    )
    flexbill_format = client.get(EXPORT)
    assert flexbill_format.headers["content-disposition"] == 'attachment; filename="invoices.csv"'
    assert flexbill_format.text.startswith("invoice_number,invoice_id,")


def test_dates_month_first_for_us_organisations(client: TestClient, space: Ids, env: None, tmp_path: Path) -> None:
    membership(client, space, customer(client, "Acme Ltd", space["LB"]), space["LB"], "2026-12-01")
    bill(client, "2026-12-01")

    (row,) = records(xero_csv(client, date_order="mdy")[1])
    assert (row["*InvoiceDate"], row["*DueDate"]) == ("12/01/2026", "12/15/2026")
    (row,) = records(xero_csv(client, date_order="dmy")[1])
    assert (row["*InvoiceDate"], row["*DueDate"]) == ("01/12/2026", "15/12/2026")

    out = tmp_path / "december.csv"
    code, stdout, err = invoke("export", "invoices", "--format", "xero", "--date-order", "mdy", "--out", str(out))
    assert code == 0, err
    (row,) = records(out.read_text(encoding="utf-8"))
    assert (row["*InvoiceDate"], row["*DueDate"]) == ("12/01/2026", "12/15/2026")
    assert f"Wrote {out}: 1 invoices, 1 lines; amounts are tax exclusive." in stdout

    refused = client.get(EXPORT, params={"date_order": "mdy"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "date_order"
    assert client.get(EXPORT, params={"format": "sage"}).status_code == 422
    code, _, err = invoke("export", "invoices", "--date-order", "mdy", "--out", str(out))
    assert (code, "--date-order applies only to --format xero" in err) == (1, True)
    code, _, err = invoke("export", "invoices", "--format", "xero", "--date-order", "ymd", "--out", str(out))
    assert (code, "--date-order 'ymd' is not one of dmy, mdy" in err) == (1, True)


def test_501_invoices_make_two_files_and_no_invoice_is_split(
    ctx: Context, client: TestClient, space: Ids, env: None, tmp_path: Path
) -> None:
    """501 members from 10 Nov 2026, billed by the run of 1 Dec 2026: 501 invoices of two lines each (10-30 Nov,
    prorated, and December). Xero takes 500 invoices from a file, so the 501st goes in a second file."""
    with ctx.sessions() as db, db.begin():
        for n in range(501):
            _member(db, uuid.UUID(space["LB"]), uuid.UUID(space["plan"]), f"Member {n:03}")
    assert len(bill(client, "2026-12-01")) == 501

    files = xero_zip(client)

    assert sorted(files) == ["README.txt", "xero-invoices-exclusive-1.csv", "xero-invoices-exclusive-2.csv"]
    first, second = records(files["xero-invoices-exclusive-1.csv"]), records(files["xero-invoices-exclusive-2.csv"])
    numbers_first = {row["*InvoiceNumber"] for row in first}
    numbers_second = {row["*InvoiceNumber"] for row in second}
    assert (len(numbers_first), len(numbers_second)) == (500, 1)
    assert (len(first), len(second)) == (1000, 2)  # every invoice whole: two rows each
    assert numbers_second == {"LB-0501"}
    assert "xero-invoices-exclusive-1.csv: 500 invoices, amounts tax exclusive" in files["README.txt"]
    assert "xero-invoices-exclusive-2.csv: 1 invoices, amounts tax exclusive" in files["README.txt"]

    out = tmp_path / "december.csv"
    code, stdout, err = invoke("export", "invoices", "--format", "xero", "--out", str(out))
    assert code == 0, err
    assert sorted(path.name for path in tmp_path.glob("december*")) == [
        "december-exclusive-1.csv", "december-exclusive-2.csv",
    ]  # fmt: skip
    assert not list(tmp_path.glob(".*.partial"))
    assert (tmp_path / "december-exclusive-1.csv").read_bytes().decode() == files["xero-invoices-exclusive-1.csv"]
    assert f"Wrote {tmp_path / 'december-exclusive-2.csv'}: 1 invoices, 2 lines; amounts are tax exclusive." in stdout


def _member(db: Session, location_id: uuid.UUID, plan_id: uuid.UUID, name: str) -> None:
    who = customers.create_customer(
        db, customers.CustomerFields(name=name, email=f"{name.replace(' ', '.')}@example.com",
                                     home_location_id=location_id),
    ).id  # fmt: skip
    customers.create_membership(
        db, customers.NewMembership(customer_id=who, plan_id=plan_id, location_id=location_id,
                                    start_date=date(2026, 11, 10)),
    )  # fmt: skip


def test_inclusive_and_exclusive_invoices_go_in_separate_files(
    client: TestClient, space: Ids, env: None, tmp_path: Path
) -> None:
    """Paris prices include tax: its desk is 300.00 with VAT in it (250.00 + 50.00). London's is 300.00 + 60.00."""
    paris = location(client, "PA", "EUR", inclusive=True)
    membership(client, space, customer(client, "Acme Ltd", space["LB"]), space["LB"], "2026-12-01")
    membership(client, space, customer(client, "Cafe SARL", paris), paris, "2026-12-01")
    invoices = {inv["number"]: inv for inv in bill(client, "2026-12-01")}
    assert (invoices["LB-0001"]["total"], invoices["PA-0001"]["total"]) == ("360.00", "300.00")

    files = xero_zip(client)

    assert sorted(files) == ["README.txt", "xero-invoices-exclusive-1.csv", "xero-invoices-inclusive-1.csv"]
    (london,) = records(files["xero-invoices-exclusive-1.csv"])
    (paris_row,) = records(files["xero-invoices-inclusive-1.csv"])
    assert (london["*InvoiceNumber"], london["*UnitAmount"], london["Currency"]) == ("LB-0001", "300.00", "GBP")
    assert (paris_row["*InvoiceNumber"], paris_row["*UnitAmount"], paris_row["Currency"]) == (
        "PA-0001",
        "300.00",
        "EUR",
    )
    assert "xero-invoices-inclusive-1.csv: 1 invoices, amounts tax inclusive" in files["README.txt"]

    name, text = xero_csv(client, location_id=paris)
    assert name == "xero-invoices-inclusive.csv"
    assert [row["*InvoiceNumber"] for row in records(text)] == ["PA-0001"]

    folder = tmp_path / "xero"
    folder.mkdir()
    code, stdout, err = invoke("export", "invoices", "--format", "xero", "--output", str(folder))
    assert code == 0, err
    assert sorted(path.name for path in folder.iterdir()) == [
        "xero-invoices-exclusive-1.csv", "xero-invoices-inclusive-1.csv",
    ]  # fmt: skip
    assert (
        f"Wrote {folder / 'xero-invoices-inclusive-1.csv'}: 1 invoices, 1 lines; amounts are tax inclusive." in stdout
    )
    assert "answer as listed for the file" in stdout


def test_a_fixed_discount_amount_is_in_the_unit_amount_and_said_in_the_description(
    client: TestClient, space: Ids
) -> None:
    """A hot desk at 300.00 less 50.00 a month: 250.00 + 50.00 VAT. Xero's template has no column for an amount
    off, so the row is 1 x 250.00, which Xero taxes exactly as we did."""
    acme = customer(client, "Acme Ltd", space["LB"])
    membership(client, space, acme, space["LB"], "2026-12-01", discount_type="amount", discount_value="50")
    (invoice,) = bill(client, "2026-12-01")
    assert (invoice["subtotal"], invoice["tax_total"]) == ("250.00", "50.00")

    (row,) = records(xero_csv(client)[1])

    assert row["*Description"] == "Hot desk, 1-31 Dec 2026 (1 x 300.00 less a discount of 50.00)"
    assert (row["*Quantity"], row["*UnitAmount"], row["Discount"]) == ("1", "250.00", "")


def test_a_prorated_unit_amount_keeps_its_four_places(client: TestClient, space: Ids) -> None:
    """From 10 Dec 2026: 22 of December's 31 days of 300.00 = 212.9032 (to four places) -> 212.90."""
    membership(client, space, customer(client, "Acme Ltd", space["LB"]), space["LB"], "2026-12-10")
    bill(client, "2026-12-01")
    (row,) = records(xero_csv(client)[1])
    assert (row["*Description"], row["*Quantity"], row["*UnitAmount"]) == (
        "Hot desk, 10-31 Dec 2026 (22 of 31 days)", "1", "212.9032",
    )  # fmt: skip


def test_codes_come_from_the_resolver_and_every_missing_code_is_named(
    client: TestClient, space: Ids, env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = customer(client, "Acme Ltd", space["LB"])
    membership(client, space, acme, space["LB"], "2026-12-01")
    post(client, "/fees", {
        "customer_id": acme, "location_id": space["LB"], "date": "2026-11-20", "description": "Meeting room",
        "unit_price": "25.00", "revenue_account_id": space["rooms"],
    })  # fmt: skip
    bill(client, "2026-12-01")
    mapped = XeroCodes(accounts={"200": "4000", "210": "4010"}, tax_types={"VAT20": "20% (VAT on Income)"},
                       tracking=("Location", "London Bridge"))  # fmt: skip
    partial = XeroCodes(accounts={"200": "4000"}, tax_types={})

    def resolver(codes: XeroCodes) -> Any:
        def build(_ctx: Context, _db: Session) -> XeroCodesFor:
            return lambda location_id: codes

        return build

    monkeypatch.setattr("flexbill.web.api.invoices.xero_codes_for", resolver(mapped))
    rows = records(xero_csv(client)[1])
    assert [(r["*AccountCode"], r["*TaxType"], r["TrackingName1"], r["TrackingOption1"]) for r in rows] == [
        ("4000", VAT, "Location", "London Bridge"), ("4010", VAT, "Location", "London Bridge"),
    ]  # fmt: skip

    monkeypatch.setattr("flexbill.web.api.invoices.xero_codes_for", resolver(partial))
    refused = client.get(EXPORT, params={"format": "xero"})
    assert refused.status_code == 409
    assert refused.json()["message"] == (
        "the Xero codes do not map every code the invoices use, so nothing was exported; map these and export "
        "again: location LB: revenue account 210 and tax rate VAT20"
    )

    monkeypatch.setattr("flexbill.bootstrap.xero_codes_for", resolver(partial))
    folder = tmp_path / "xero"
    folder.mkdir()
    code, _, err = invoke("export", "invoices", "--format", "xero", "--out", str(folder / "december.csv"))
    assert code == 1
    assert "location LB: revenue account 210 and tax rate VAT20" in err
    assert list(folder.iterdir()) == []


def test_drafts_and_voided_invoices_are_left_out_unless_asked_for(client: TestClient, space: Ids) -> None:
    acme, bolt = customer(client, "Acme Ltd", space["LB"]), customer(client, "Bolt Ltd", space["LB"])
    membership(client, space, acme, space["LB"], "2026-11-01")
    membership(client, space, bolt, space["LB"], "2026-11-01")
    november = {inv["customer_id"]: inv for inv in bill(client, "2026-11-01")}
    post(client, f"/invoices/{november[bolt]['id']}/void", {}, expect=200)
    client.patch(f"{API}/settings/billing", json={"issue_mode": "draft"})
    assert len(bill(client, "2026-12-01")) == 2  # two December drafts

    assert {row["*InvoiceNumber"] for row in records(xero_csv(client)[1])} == {november[acme]["number"]}
    voided = records(xero_csv(client, status="voided")[1])
    assert {row["*InvoiceNumber"] for row in voided} == {november[bolt]["number"]}
    drafts = client.get(EXPORT, params={"format": "xero", "status": "draft"})
    assert drafts.status_code == 422
    assert drafts.json()["field"] == "status"
    assert "issue them first" in drafts.json()["message"]


def test_an_export_that_finds_nothing_is_the_header_alone(client: TestClient, space: Ids) -> None:
    name, text = xero_csv(client, **{"from": "2030-01-01"})
    assert (name, text) == ("xero-invoices-exclusive.csv", f"{HEADER}\r\n")


# --- the command line ---------------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def env(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("FLEXBILL_DATABASE_URL", str(ctx.settings.database_url))
    monkeypatch.setenv("FLEXBILL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLEXBILL_TODAY", "2026-11-26")
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr
