"""The console's exports page: invoices as CSV (flexbill's columns or Xero's import template) for a date range and
a location, downloaded from the page's form. The file is the JSON API's export, byte for byte."""

from __future__ import annotations

import csv
import html
import io
from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from flexbill.access.model import Role
from flexbill.access.store import AuditRow
from flexbill.billing.service import run_bill_run
from flexbill.bootstrap import Context
from flexbill.customers import service as customers
from tests.support import Catalog, make_catalog, make_customer
from tests.web import browser, signed_in_staff
from tests.web import text_of as _text_of

DOWNLOAD = "/admin/exports/invoices.csv"


def text_of(page: str) -> str:
    return html.unescape(_text_of(page))


@pytest.fixture
def billed(ctx: Context, cat: Catalog) -> Catalog:
    """Two members in London and one in Berlin, billed on 1 Nov and 1 Dec 2026."""
    with ctx.sessions() as db, db.begin():
        berlin = make_catalog(db, code="BER", currency="EUR")
        for name, where in (("Acme Ltd", cat), ("Bolt Ltd", cat), ("Kraft GmbH", berlin)):
            customer_id = make_customer(db, where, name=name)
            customers.create_membership(
                db,
                customers.NewMembership(
                    customer_id=customer_id, plan_id=where.hot_desk_id, location_id=where.location_id,
                    start_date=date(2026, 11, 1), quantity=Decimal(1),
                ),
            )  # fmt: skip
    for day in (date(2026, 11, 1), date(2026, 12, 1)):
        run_bill_run(ctx.sessions, ctx.clock, day)
    return berlin


def rows_of(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def test_the_exports_page_offers_the_filters_and_every_role_may_download(ctx: Context, billed: Catalog) -> None:
    reader = signed_in_staff(ctx, Role.READ_ONLY)
    page = reader.get("/admin/exports")
    assert page.status_code == 200
    assert f'<option value="{billed.location_id}">BER space</option>' in page.text
    assert 'name="from" type="date"' in page.text
    assert f'<form class="panel" method="get" action="{DOWNLOAD}">' in page.text
    download = reader.get(DOWNLOAD)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    anonymous = browser(ctx).get(DOWNLOAD)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/admin/sign-in?next=/admin/exports/invoices.csv"


def test_a_date_range_and_a_location_export_their_invoices_as_the_api_does(
    ctx: Context, cat: Catalog, billed: Catalog, client: TestClient
) -> None:
    owner = signed_in_staff(ctx)
    params = {"from": "2026-12-01", "to": "2026-12-31", "location_id": str(cat.location_id), "format": "flexbill"}
    download = owner.get(DOWNLOAD, params=params)
    assert download.status_code == 200, download.text
    assert download.headers["content-disposition"] == (
        'attachment; filename="invoices-from-2026-12-01-to-2026-12-31.csv"'
    )
    rows = rows_of(download.text)
    assert {row["contact_name"] for row in rows} == {"Acme Ltd", "Bolt Ltd"}
    assert {row["issue_date"] for row in rows} == {"2026-12-01"}
    api = client.get("/api/v1/exports/invoices.csv", params={k: v for k, v in params.items() if k != "format"})
    assert download.content == api.content

    everything = rows_of(owner.get(DOWNLOAD).text)
    assert {row["contact_name"] for row in everything} == {"Acme Ltd", "Bolt Ltd", "Kraft GmbH"}
    assert {row["issue_date"] for row in everything} == {"2026-11-01", "2026-12-01"}

    with ctx.readers() as db:
        entry = db.scalars(select(AuditRow).where(AuditRow.action == "invoices.export")).first()
    assert entry is not None
    assert entry.actor_label == "owner@example.com"
    assert entry.after is not None
    assert entry.after["from"] == "2026-12-01"


def test_the_xero_template_is_downloaded_with_day_or_month_first_dates(
    ctx: Context, cat: Catalog, billed: Catalog
) -> None:
    owner = signed_in_staff(ctx)
    params = {"from": "2026-12-01", "to": "2026-12-01", "location_id": str(cat.location_id), "format": "xero"}
    dmy = owner.get(DOWNLOAD, params=params)
    assert dmy.status_code == 200, dmy.text
    assert dmy.headers["content-disposition"].startswith('attachment; filename="')
    rows = rows_of(dmy.text)
    assert {row["*InvoiceDate"] for row in rows} == {"01/12/2026"}
    assert {row["*ContactName"] for row in rows} == {"Acme Ltd", "Bolt Ltd"}
    mdy = rows_of(owner.get(DOWNLOAD, params={**params, "date_order": "mdy", "to": "2026-12-02"}).text)
    assert {row["*DueDate"] for row in mdy} == {"12/15/2026"}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"from": "1 Dec 2026"}, "'1 Dec 2026' is not a date: dates are YYYY-MM-DD"),
        (
            {"from": "2026-12-31", "to": "2026-12-01"},
            "To: the last date (2026-12-01) is before the first (2026-12-31).",
        ),
        ({"format": "flexbill", "date_order": "mdy"}, "Date order: applies only to format=xero"),
        ({"location_id": "LON"}, "Location: Input should be a valid UUID"),
    ],
)
def test_a_bad_filter_shows_the_form_again_with_words(
    ctx: Context, billed: Catalog, params: dict[str, str], words: str
) -> None:
    owner = signed_in_staff(ctx)
    refused = owner.get(DOWNLOAD, params=params)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("text/html")
    assert words in text_of(refused.text)
    assert '<div class="error" role="alert">' in refused.text
    for name, value in params.items():
        if name not in ("format", "date_order"):
            assert f'value="{value}"' in refused.text or name == "location_id"
