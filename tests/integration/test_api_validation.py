"""Bad input through the REST API: every endpoint refuses it with a 4xx and a JSON error naming the field, and a
refused request writes nothing.

Every error body is ``{"message", "field", "errors": [{"field", "message"}]}``. "Nothing is written" is checked
by comparing every row of every table before and after the refused request (``database_contents``).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from flexbill.access.service import create_api_key
from flexbill.bootstrap import Context
from flexbill.models import metadata
from flexbill.web.app import create_app

API = "/api/v1"
UNKNOWN = "0190f2c4-0000-7000-8000-000000000000"  # a well-formed id that names nothing

Ids = dict[str, str]


# --- helpers -----------------------------------------------------------------------------------------------------


def call(client: TestClient, method: str, path: str, body: Any = None) -> Response:
    return client.request(method, f"{API}{path}", json=body)


def ok(client: TestClient, method: str, path: str, body: Any = None, expect: int = 201) -> dict[str, Any]:
    response = call(client, method, path, body)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def database_contents(ctx: Context) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, as text: equal before and after a request means it wrote nothing."""
    with ctx.engine.connect() as connection:
        return {
            table.name: sorted(tuple(str(value) for value in row) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


def assert_error(response: Response, status: int, field: str | None, *phrases: str) -> dict[str, Any]:
    """The response is a ``status`` error in the API's shape; it names ``field`` and says each of ``phrases``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "field", "errors"}, body
    assert body["field"] == field, body
    assert body["errors"], body
    assert all(set(error) == {"field", "message"} for error in body["errors"]), body
    assert field in [error["field"] for error in body["errors"]], body
    if field is not None:
        assert body["message"].startswith(f"{field}: "), body
    for phrase in phrases:
        assert phrase in body["message"], body
    return body


def assert_refused(
    client: TestClient,
    ctx: Context,
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str | None,
    *phrases: str,
) -> dict[str, Any]:
    """The request is refused with ``status`` naming ``field``, and the database is exactly as it was."""
    before = database_contents(ctx)
    error = assert_error(call(client, method, path, body), status, field, *phrases)
    assert database_contents(ctx) == before, "a refused request changed the database"
    return error


def fill(value: Any, ids: Ids) -> Any:
    """Put the space's ids into a request: ``"{customer}"`` becomes the customer's id, in paths and bodies."""
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda match: ids.get(match.group(1), match.group(0)), value)
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    return value


class Case(NamedTuple):
    method: str
    path: str  # may hold "{invoice}" and the like
    body: Any
    field: str | None
    phrase: str  # a part of the message that explains the problem


def case_id(case: Case) -> str:
    return f"{case.method} {case.path} {case.field}"


# --- the space every test starts from ----------------------------------------------------------------------------


@pytest.fixture
def space(client: TestClient) -> Ids:
    """Two locations (GBP and EUR), a catalog, one customer with a membership from 1 Dec 2026 and a fee of
    20 Nov 2026, billed by the bill run of 1 Dec 2026 (invoice LB-0001), and a membership from 2 Nov 2026 entered
    after that run (not billed yet)."""
    ids: Ids = {}
    ids["location"] = ok(client, "POST", "/locations", {
        "name": "London Bridge", "code": "LB", "currency": "GBP", "timezone": "Europe/London",
        "invoice_number_template": "LB-{number:04}",
    })["id"]  # fmt: skip
    ids["location_eur"] = ok(client, "POST", "/locations", {
        "name": "Paris", "code": "PA", "currency": "EUR", "timezone": "Europe/Paris",
        "invoice_number_template": "PA-{number:04}",
    })["id"]  # fmt: skip
    ids["vat"] = ok(client, "POST", "/tax-rates", {
        "name": "VAT 20%", "code": "VAT20", "components": [{"name": "VAT", "rate": "20"}],
    })["id"]  # fmt: skip
    ids["account"] = ok(client, "POST", "/revenue-accounts", {
        "name": "Memberships", "code": "200", "tax_rate_id": ids["vat"],
    })["id"]  # fmt: skip
    ids["plan"] = ok(client, "POST", "/plans", {
        "name": "Hot desk", "price": "300.00", "revenue_account_id": ids["account"],
    })["id"]  # fmt: skip
    ids["plan_eur"] = ok(client, "POST", "/plans", {
        "name": "Bureau", "price": "400.00", "revenue_account_id": ids["account"], "currency": "EUR",
    })["id"]  # fmt: skip
    ids["customer"] = ok(client, "POST", "/customers", {
        "name": "Acme Ltd", "email": "billing@acme.test", "home_location_id": ids["location"],
    })["id"]  # fmt: skip
    ids["membership"] = ok(client, "POST", "/memberships", {
        "customer_id": ids["customer"], "plan_id": ids["plan"], "location_id": ids["location"],
        "start_date": "2026-12-01",
    })["id"]  # fmt: skip
    ids["fee"] = ok(client, "POST", "/fees", {
        "customer_id": ids["customer"], "location_id": ids["location"], "date": "2026-11-20",
        "description": "Meeting room", "quantity": "2", "unit_price": "25.00", "revenue_account_id": ids["account"],
    })["id"]  # fmt: skip
    run = ok(client, "POST", "/bill-runs", {"date": "2026-12-01"})
    assert [invoice["number"] for invoice in run["invoices"]] == ["LB-0001"]
    ids["bill_run"] = run["id"]
    ids["invoice"] = run["invoices"][0]["id"]
    ids["line"] = run["invoices"][0]["lines"][0]["id"]
    ids["late_membership"] = ok(client, "POST", "/memberships", {
        "customer_id": ids["customer"], "plan_id": ids["plan"], "location_id": ids["location"],
        "start_date": "2026-11-02",
    })["id"]  # fmt: skip
    return ids


def new_membership(**fields: Any) -> dict[str, Any]:
    return {
        "customer_id": "{customer}", "plan_id": "{plan}", "location_id": "{location}", "start_date": "2026-12-01",
        **fields,
    }  # fmt: skip


def new_fee(**fields: Any) -> dict[str, Any]:
    return {
        "customer_id": "{customer}", "location_id": "{location}", "date": "2026-11-25", "description": "Printing",
        "quantity": "1", "unit_price": "5.00", "revenue_account_id": "{account}", **fields,
    }  # fmt: skip


def new_plan(**fields: Any) -> dict[str, Any]:
    return {"name": "Fixed desk", "price": "450.00", "revenue_account_id": "{account}", **fields}


def new_location(**fields: Any) -> dict[str, Any]:
    return {"name": "Manchester", "code": "MA", "currency": "GBP", **fields}


def new_customer(**fields: Any) -> dict[str, Any]:
    return {"name": "Bolt plc", "email": "accounts@bolt.test", "home_location_id": "{location}", **fields}


def payment(**fields: Any) -> dict[str, Any]:
    return {"date": "2026-12-02", "amount": "10.00", "method": "bank_transfer", **fields}


def credit(**fields: Any) -> dict[str, Any]:
    return {"amount": "10.00", "reason": "Goodwill", "date": "2026-12-02", **fields}


def credit_lines(amount: Any) -> dict[str, Any]:
    return {"lines": [{"line_id": "{line}", "amount": amount}], "reason": "Goodwill", "date": "2026-12-02"}


# --- wrong types -------------------------------------------------------------------------------------------------

DECIMAL_STRINGS = 'amounts are decimal strings such as "12.50"'

WRONG_TYPES = [
    # A JSON number where a decimal string is expected is refused: 12.5 has already been through a float.
    Case("POST", "/plans", new_plan(price=12.5), "price", f"{DECIMAL_STRINGS}, not the JSON number 12.5"),
    Case("POST", "/memberships", new_membership(price=12.5), "price", DECIMAL_STRINGS),
    Case("PATCH", "/memberships/{membership}", {"price": 12.5}, "price", DECIMAL_STRINGS),
    Case("POST", "/fees", new_fee(unit_price=12.5), "unit_price", DECIMAL_STRINGS),
    Case("POST", "/fees", new_fee(quantity=1.5), "quantity", DECIMAL_STRINGS),
    Case(
        "POST",
        "/tax-rates",
        {"name": "Reduced", "code": "VAT5", "components": [{"name": "VAT", "rate": 5.5}]},
        "components.0.rate",
        DECIMAL_STRINGS,
    ),
    Case("POST", "/invoices/{invoice}/payments", payment(amount=12.5), "amount", DECIMAL_STRINGS),
    Case("POST", "/invoices/{invoice}/credit-notes", credit(amount=12.5), "amount", DECIMAL_STRINGS),
    Case("POST", "/invoices/{invoice}/credit-notes", credit_lines(12.5), "lines.0.amount", DECIMAL_STRINGS),
    Case(
        "POST",
        "/memberships",
        new_membership(discount_type="percent", discount_value=10.5),
        "discount_value",
        DECIMAL_STRINGS,
    ),
    # Text, booleans and null where a number is expected.
    Case("POST", "/memberships", new_membership(quantity="abc"), "quantity", "'abc' is not a decimal number"),
    Case("PATCH", "/memberships/{membership}", {"quantity": "abc"}, "quantity", "'abc' is not a decimal number"),
    Case("POST", "/fees", new_fee(quantity="abc"), "quantity", "'abc' is not a decimal number"),
    Case("POST", "/fees", new_fee(unit_price="12,50"), "unit_price", "'12,50' is not a decimal number"),
    Case("POST", "/fees", new_fee(quantity=True), "quantity", f"{DECIMAL_STRINGS}, not a boolean"),
    Case("POST", "/fees", new_fee(unit_price=None), "unit_price", f"{DECIMAL_STRINGS}, not null"),
    Case("POST", "/plans", new_plan(price={"amount": "1"}), "price", f"{DECIMAL_STRINGS}, not an object"),
    Case("POST", "/plans", new_plan(price="NaN"), "price", "'NaN' is not a finite number"),
    Case("POST", "/fees", new_fee(quantity="1.00001"), "quantity", "at most 4 decimal places"),
    # Dates that are not YYYY-MM-DD calendar dates.
    Case(
        "POST",
        "/memberships",
        new_membership(start_date="2026-13-01"),
        "start_date",
        "'2026-13-01' is not a date: dates are YYYY-MM-DD",
    ),
    Case("POST", "/memberships", new_membership(end_date="2026-12-32"), "end_date", "is not a date"),
    Case("PATCH", "/memberships/{membership}", {"end_date": "2026-13-01"}, "end_date", "is not a date"),
    Case("POST", "/fees", new_fee(date="2026-13-01"), "date", "is not a date"),
    Case("POST", "/fees", new_fee(date="2026-02-29"), "date", "is not a date"),  # 2026 is not a leap year
    Case("POST", "/fees", new_fee(date="25/11/2026"), "date", "dates are YYYY-MM-DD"),
    Case("POST", "/bill-runs", {"date": "2026-13-01"}, "date", "is not a date"),
    Case("PATCH", "/settings/billing", {"lock_date": "2026-13-01"}, "lock_date", "is not a date"),
    Case("POST", "/invoices/{invoice}/payments", payment(date="2026-13-01"), "date", "is not a date"),
    Case("POST", "/invoices/{invoice}/credit-notes", credit(date="2026-13-01"), "date", "is not a date"),
    # Ids, choices, integers and booleans.
    Case("POST", "/memberships", new_membership(customer_id="acme"), "customer_id", "valid UUID"),
    Case("POST", "/customers", new_customer(home_location_id=42), "home_location_id", "UUID"),
    Case("POST", "/customers", new_customer(kind="person"), "kind", "'company' or 'individual'"),
    Case("POST", "/customers", new_customer(email="billing.acme.test"), "email", "is not an email address"),
    Case("POST", "/customers", new_customer(country="GBR"), "country", "2-letter ISO 3166 code"),
    Case("PATCH", "/customers/{customer}", {"email": "nobody"}, "email", "is not an email address"),
    Case("POST", "/locations", new_location(currency="POUNDS"), "currency", "3-letter ISO 4217 code"),
    Case("POST", "/locations", new_location(timezone="Europe/Atlantis"), "timezone", "IANA time zone"),
    Case("POST", "/locations", new_location(code="M A"), "code", "is not a code"),
    Case("POST", "/locations", new_location(prices_include_tax="sometimes"), "prices_include_tax", "boolean"),
    Case("POST", "/plans", new_plan(interval_months="monthly"), "interval_months", "integer"),
    Case("POST", "/plans", new_plan(proration="daily"), "proration", "'first_invoice', 'second_invoice' or 'none'"),
    Case("POST", "/invoices/{invoice}/payments", payment(method="cheque"), "method", "'bank_transfer'"),
    Case("POST", "/invoices/{invoice}/void", {"release_items": "perhaps"}, "release_items", "boolean"),
    Case("PATCH", "/settings/billing", {"billing_day": "first"}, "billing_day", "integer"),
    Case("PATCH", "/settings/billing", {"auto_send": "perhaps"}, "auto_send", "boolean"),
]


@pytest.mark.parametrize("case", WRONG_TYPES, ids=case_id)
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(
    client: TestClient, ctx: Context, space: Ids, case: Case
) -> None:
    assert_refused(client, ctx, case.method, fill(case.path, space), fill(case.body, space), 422, case.field,
                   case.phrase)  # fmt: skip


def test_an_integer_amount_is_exact_and_accepted_as_the_same_decimal(client: TestClient, space: Ids) -> None:
    """The counterpart of refusing 12.5: a JSON integer carries no binary fraction, so 12 means "12.00"."""
    plan = ok(client, "POST", "/plans", fill(new_plan(price=12), space))
    assert plan["price"] == "12.00"


def test_a_body_that_is_not_a_json_object_is_refused(client: TestClient, ctx: Context) -> None:
    before = database_contents(ctx)
    broken = client.post(
        f"{API}/locations", content=b'{"name": "Manchester",', headers={"content-type": "application/json"}
    )
    assert_error(broken, 422, None, "the request body is not valid JSON")
    array = client.post(f"{API}/locations", json=[{"name": "Manchester", "code": "MA", "currency": "GBP"}])
    assert_error(array, 422, None, "the request body must be a JSON object")
    assert_error(client.post(f"{API}/locations"), 422, None, "the request needs a JSON object as its body")
    assert database_contents(ctx) == before


# --- negative and zero quantities, negative prices -------------------------------------------------------------

NOT_POSITIVE = [
    Case("POST", "/memberships", new_membership(quantity="0"), "quantity", "must be greater than zero"),
    Case("POST", "/memberships", new_membership(quantity="-1"), "quantity", "must be greater than zero"),
    Case("PATCH", "/memberships/{membership}", {"quantity": "0"}, "quantity", "must be greater than zero"),
    Case("PATCH", "/memberships/{membership}", {"quantity": "-2"}, "quantity", "must be greater than zero"),
    Case("PATCH", "/memberships/{membership}", {"quantity": None}, "quantity", "cannot be empty"),
    Case("POST", "/fees", new_fee(quantity="0"), "quantity", "must be greater than zero"),
    Case("POST", "/fees", new_fee(quantity="-3"), "quantity", "must be greater than zero"),
    Case("POST", "/plans", new_plan(price="-1"), "price", "must not be negative"),
    Case("POST", "/memberships", new_membership(price="-0.01"), "price", "must not be negative"),
    Case("PATCH", "/memberships/{membership}", {"price": "-5"}, "price", "must not be negative"),
    Case(
        "POST",
        "/memberships",
        new_membership(discount_type="amount", discount_value="-5"),
        "discount_value",
        "must not be negative",
    ),
    Case(
        "POST",
        "/tax-rates",
        {"name": "Odd", "code": "ODD", "components": [{"name": "VAT", "rate": "-1"}]},
        "components.0.rate",
        "must not be negative",
    ),
    Case("POST", "/invoices/{invoice}/payments", payment(amount="0"), "amount", "must be greater than zero"),
    Case("POST", "/invoices/{invoice}/payments", payment(amount="-10.00"), "amount", "must be greater than zero"),
    Case("POST", "/invoices/{invoice}/payments", payment(amount="10.001"), "amount", "more decimal places than GBP"),
    Case("POST", "/invoices/{invoice}/credit-notes", credit(amount="-1"), "amount", "must be greater than zero"),
    Case("POST", "/invoices/{invoice}/credit-notes", credit_lines("0"), "lines.0.amount", "must be greater than zero"),
]


@pytest.mark.parametrize("case", NOT_POSITIVE, ids=case_id)
def test_a_negative_or_zero_quantity_or_a_negative_price_is_refused(
    client: TestClient, ctx: Context, space: Ids, case: Case
) -> None:
    assert_refused(client, ctx, case.method, fill(case.path, space), fill(case.body, space), 422, case.field,
                   case.phrase)  # fmt: skip


def test_a_free_plan_and_a_fractional_quantity_are_accepted(client: TestClient, space: Ids) -> None:
    """The boundaries of the rules above: a price of zero is not negative, 0.5 of a desk is more than zero."""
    assert ok(client, "POST", "/plans", fill(new_plan(price="0"), space))["price"] == "0.00"
    assert ok(client, "POST", "/fees", fill(new_fee(quantity="0.5"), space))["quantity"] == "0.5"


# --- unknown ids ---------------------------------------------------------------------------------------------------

UNKNOWN_IDS = [
    Case("POST", "/memberships", new_membership(customer_id=UNKNOWN), "customer_id", "customer"),
    Case("POST", "/memberships", new_membership(plan_id=UNKNOWN), "plan_id", "plan"),
    Case("POST", "/memberships", new_membership(location_id=UNKNOWN), "location_id", "location"),
    Case("POST", "/fees", new_fee(customer_id=UNKNOWN), "customer_id", "customer"),
    Case("POST", "/fees", new_fee(location_id=UNKNOWN), "location_id", "location"),
    Case("POST", "/fees", new_fee(revenue_account_id=UNKNOWN), "revenue_account_id", "revenue account"),
    Case("POST", "/fees", new_fee(tax_rate_id=UNKNOWN), "tax_rate_id", "tax rate"),
    Case("POST", "/plans", new_plan(revenue_account_id=UNKNOWN), "revenue_account_id", "revenue account"),
    Case(
        "POST",
        "/revenue-accounts",
        {"name": "Events", "code": "250", "tax_rate_id": UNKNOWN},
        "tax_rate_id",
        "tax rate",
    ),
    Case("POST", "/customers", new_customer(home_location_id=UNKNOWN), "home_location_id", "location"),
    Case("POST", "/customers", new_customer(tax_rate_id=UNKNOWN), "tax_rate_id", "tax rate"),
    Case("PATCH", "/customers/{customer}", {"home_location_id": UNKNOWN}, "home_location_id", "location"),
    Case("PATCH", "/customers/{customer}", {"tax_rate_id": UNKNOWN}, "tax_rate_id", "tax rate"),
    Case("POST", "/bill-runs", {"date": "2027-01-01", "location_id": UNKNOWN}, "location_id", "location"),
    Case(
        "POST", "/bill-runs", {"date": "2027-01-01", "location_id": UNKNOWN, "preview": True}, "location_id", "location"
    ),
]


@pytest.mark.parametrize("case", UNKNOWN_IDS, ids=case_id)
def test_an_unknown_id_in_the_body_is_a_404_naming_the_field(
    client: TestClient, ctx: Context, space: Ids, case: Case
) -> None:
    assert_refused(client, ctx, case.method, fill(case.path, space), fill(case.body, space), 404, case.field,
                   f"{case.phrase} {UNKNOWN} does not exist")  # fmt: skip


def test_a_credit_note_for_a_line_of_another_invoice_is_refused_naming_the_line(
    client: TestClient, ctx: Context, space: Ids
) -> None:
    body = {"lines": [{"line_id": UNKNOWN, "amount": "1.00"}], "reason": "Goodwill", "date": "2026-12-02"}
    assert_refused(client, ctx, "POST", f"/invoices/{space['invoice']}/credit-notes", body, 422, "lines.0.line_id",
                   f"line {UNKNOWN} is not on invoice LB-0001")  # fmt: skip


GET_ONE = [
    "/locations/{id}",
    "/tax-rates/{id}",
    "/revenue-accounts/{id}",
    "/plans/{id}",
    "/customers/{id}",
    "/memberships/{id}",
    "/fees/{id}",
    "/bill-runs/{id}",
    "/invoices/{id}",
    "/credit-notes/{id}",
]


@pytest.mark.parametrize("path", GET_ONE)
def test_get_of_an_unknown_id_is_a_404_and_of_a_malformed_id_a_422(client: TestClient, path: str) -> None:
    body = assert_error(client.get(f"{API}{path.format(id=UNKNOWN)}"), 404, None, "does not exist", UNKNOWN)
    assert body["message"].endswith(f"{UNKNOWN} does not exist")
    malformed = client.get(f"{API}{path.format(id='12345')}")
    assert malformed.status_code == 422, malformed.text
    assert malformed.json()["field"].endswith("_id")
    assert "UUID" in malformed.json()["message"]


ACTIONS_ON_UNKNOWN = [
    Case("POST", "/invoices/{id}/issue", None, None, "invoice"),
    Case("POST", "/invoices/{id}/void", None, None, "invoice"),
    Case("POST", "/invoices/{id}/payments", payment(), None, "invoice"),
    Case("POST", "/invoices/{id}/credit-notes", credit(), None, "invoice"),
    Case("PATCH", "/customers/{id}", {"name": "Renamed"}, None, "customer"),
    Case("PATCH", "/memberships/{id}", {"quantity": "2"}, None, "membership"),
]


@pytest.mark.parametrize("case", ACTIONS_ON_UNKNOWN, ids=case_id)
def test_an_action_on_an_unknown_record_is_a_404(client: TestClient, ctx: Context, case: Case) -> None:
    assert_refused(client, ctx, case.method, case.path.format(id=UNKNOWN), case.body, 404, None,
                   f"{case.phrase} {UNKNOWN} does not exist")  # fmt: skip


# --- unknown fields -----------------------------------------------------------------------------------------------

TYPOS = [
    Case("POST", "/locations", new_location(timezon="Europe/London"), "timezon", ""),
    Case(
        "POST",
        "/tax-rates",
        {"name": "VAT", "code": "VAT-T", "components": [{"name": "VAT", "rate": "20", "rat": "20"}]},
        "components.0.rat",
        "",
    ),
    Case(
        "POST",
        "/revenue-accounts",
        {"name": "Events", "code": "250", "tax_rate_id": "{vat}", "tax_rate": "{vat}"},
        "tax_rate",
        "",
    ),
    Case("POST", "/plans", new_plan(interval_month=3), "interval_month", ""),
    Case("POST", "/customers", new_customer(adress_line1="1 High St"), "adress_line1", ""),
    Case("PATCH", "/customers/{customer}", {"nmae": "Acme Holdings"}, "nmae", ""),
    Case("POST", "/memberships", new_membership(end_dat="2027-06-30"), "end_dat", ""),
    Case("PATCH", "/memberships/{membership}", {"end_dat": "2027-06-30"}, "end_dat", ""),
    Case("POST", "/fees", new_fee(tax_rate="{vat}"), "tax_rate", ""),
    Case("PATCH", "/settings/billing", {"billing_dya": 15}, "billing_dya", ""),
    Case("POST", "/bill-runs", {"date": "2027-01-01", "preveiw": True}, "preveiw", ""),
    Case("POST", "/invoices/{invoice}/payments", payment(refrence="BACS 123"), "refrence", ""),
    Case("POST", "/invoices/{invoice}/credit-notes", credit(resaon="typo"), "resaon", ""),
    Case("POST", "/invoices/{invoice}/void", {"relase_items": False}, "relase_items", ""),
]


@pytest.mark.parametrize("case", TYPOS, ids=case_id)
def test_an_unknown_field_is_refused_so_a_typo_never_passes_silently(
    client: TestClient, ctx: Context, space: Ids, case: Case
) -> None:
    # The bill run is the one that would bill the late membership; the void the one that would void LB-0001.
    assert_refused(client, ctx, case.method, fill(case.path, space), fill(case.body, space), 422, case.field,
                   "is not a field of this request")  # fmt: skip


def test_a_typo_is_listed_with_the_required_field_it_left_out(client: TestClient, ctx: Context, space: Ids) -> None:
    body = fill({"name": "Bolt plc", "emial": "accounts@bolt.test", "home_location_id": "{location}"}, space)
    error = assert_refused(client, ctx, "POST", "/customers", body, 422, "email", "email: is required")
    assert error["errors"] == [
        {"field": "email", "message": "email: is required"},
        {"field": "emial", "message": "emial: is not a field of this request"},
    ]


# --- rules across fields: dates, currencies ------------------------------------------------------------------------


def test_a_membership_ending_before_it_starts_is_refused_naming_end_date(
    client: TestClient, ctx: Context, space: Ids
) -> None:
    body = fill(new_membership(start_date="2027-01-01", end_date="2026-12-31"), space)
    assert_refused(client, ctx, "POST", "/memberships", body, 422, "end_date",
                   "end_date 2026-12-31 is before start_date 2027-01-01")  # fmt: skip
    assert_refused(client, ctx, "PATCH", f"/memberships/{space['membership']}", {"end_date": "2026-11-30"}, 422,
                   "end_date", "end_date 2026-11-30 is before start_date 2026-12-01")  # fmt: skip
    # The last day may be the first day: a one-day membership (end dates are inclusive).
    one_day = ok(client, "POST", "/memberships", fill(new_membership(start_date="2027-01-01",
                                                                     end_date="2027-01-01"), space))  # fmt: skip
    assert (one_day["start_date"], one_day["end_date"]) == ("2027-01-01", "2027-01-01")


def test_a_fee_in_another_currency_than_its_location_is_refused_naming_currency(
    client: TestClient, ctx: Context, space: Ids
) -> None:
    assert_refused(client, ctx, "POST", "/fees", fill(new_fee(currency="EUR"), space), 422, "currency",
                   "the fee is in EUR but location LB bills in GBP")  # fmt: skip
    assert_refused(client, ctx, "POST", "/fees", fill(new_fee(currency="GBP", location_id="{location_eur}"), space),
                   422, "currency", "the fee is in GBP but location PA bills in EUR")  # fmt: skip
    # The same currency is accepted, in any case; the field is optional.
    assert ok(client, "POST", "/fees", fill(new_fee(currency="gbp"), space))["unit_price"] == "5.00"


def test_a_membership_of_a_plan_priced_in_another_currency_than_its_location_is_refused(
    client: TestClient, ctx: Context, space: Ids
) -> None:
    body = fill(new_membership(plan_id="{plan_eur}"), space)
    assert_refused(client, ctx, "POST", "/memberships", body, 422, "plan_id",
                   "plan 'Bureau' is priced in EUR but location LB bills in GBP")  # fmt: skip
    at_paris_body = fill(new_membership(plan_id="{plan_eur}", location_id="{location_eur}"), space)
    at_paris = ok(client, "POST", "/memberships", at_paris_body)
    assert at_paris["location_id"] == space["location_eur"]


# --- the lock date ------------------------------------------------------------------------------------------------

BEFORE_LOCK = [
    Case("POST", "/fees", new_fee(date="2026-11-30"), "date", "date 2026-11-30 is before the lock date 2026-12-01"),
    Case(
        "POST",
        "/memberships",
        new_membership(start_date="2026-11-30"),
        "start_date",
        "start_date 2026-11-30 is before the lock date 2026-12-01",
    ),
    Case(
        "PATCH",
        "/memberships/{late_membership}",
        {"end_date": "2026-11-20"},
        "end_date",
        "end_date 2026-11-20 is before the lock date 2026-12-01",
    ),
    Case(
        "PATCH",
        "/memberships/{late_membership}",
        {"start_date": "2026-11-05"},
        "start_date",
        "start_date 2026-11-05 is before the lock date 2026-12-01",
    ),
    Case("POST", "/bill-runs", {"date": "2026-11-01"}, "date", "date 2026-11-01 is before the lock date 2026-12-01"),
    Case("POST", "/bill-runs", {"date": "2026-11-01", "preview": True}, "date", "is before the lock date"),
    Case(
        "POST",
        "/invoices/{invoice}/payments",
        payment(date="2026-11-30"),
        "date",
        "date 2026-11-30 is before the lock date 2026-12-01",
    ),
    Case(
        "POST",
        "/invoices/{invoice}/credit-notes",
        credit(date="2026-11-30"),
        "date",
        "date 2026-11-30 is before the lock date 2026-12-01",
    ),
]


@pytest.mark.parametrize("case", BEFORE_LOCK, ids=case_id)
def test_nothing_dated_before_the_lock_date_can_be_created_or_changed(
    client: TestClient, ctx: Context, space: Ids, case: Case
) -> None:
    settings = ok(client, "PATCH", "/settings/billing", {"lock_date": "2026-12-01"}, expect=200)
    assert settings["lock_date"] == "2026-12-01"
    assert_refused(client, ctx, case.method, fill(case.path, space), fill(case.body, space), 422, case.field,
                   case.phrase, "the books are closed")  # fmt: skip


def test_the_lock_date_itself_is_open(client: TestClient, space: Ids) -> None:
    """The lock date closes the days *before* it: records dated on it are still accepted."""
    ok(client, "PATCH", "/settings/billing", {"lock_date": "2026-12-01"}, expect=200)
    assert ok(client, "POST", "/fees", fill(new_fee(date="2026-12-01"), space))["date"] == "2026-12-01"
    paid = ok(client, "POST", f"/invoices/{space['invoice']}/payments", payment(date="2026-12-01"))
    assert paid["date"] == "2026-12-01"
    assert ok(client, "POST", "/memberships", fill(new_membership(), space))["start_date"] == "2026-12-01"


def test_an_invoice_dated_before_the_lock_date_can_be_neither_voided_nor_issued(
    client: TestClient, ctx: Context, space: Ids
) -> None:
    ok(client, "PATCH", "/settings/billing", {"lock_date": "2026-12-02"}, expect=200)
    assert_refused(client, ctx, "POST", f"/invoices/{space['invoice']}/void", None, 422, "issue_date",
                   "issue_date 2026-12-01 is before the lock date 2026-12-02")  # fmt: skip
    assert ok(client, "GET", f"/invoices/{space['invoice']}", expect=200)["status"] == "awaiting_payment"


def test_a_draft_dated_before_the_lock_date_cannot_be_issued(client: TestClient, ctx: Context, space: Ids) -> None:
    ok(client, "PATCH", "/settings/billing", {"issue_mode": "draft"}, expect=200)
    draft = ok(client, "POST", "/bill-runs", {"date": "2027-01-01"})["invoices"][0]
    assert (draft["status"], draft["number"]) == ("draft", None)
    ok(client, "PATCH", "/settings/billing", {"lock_date": "2027-01-02"}, expect=200)
    assert_refused(client, ctx, "POST", f"/invoices/{draft['id']}/issue", None, 422, "issue_date",
                   "issue_date 2027-01-01 is before the lock date 2027-01-02")  # fmt: skip


# --- bill runs, templates, codes, settings ------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["2026-12-02", "2026-12-31", "2027-01-15"])
def test_a_bill_run_on_a_day_that_is_not_the_billing_day_is_refused(
    client: TestClient, ctx: Context, space: Ids, day: str
) -> None:
    for preview in (False, True):
        assert_refused(client, ctx, "POST", "/bill-runs", {"date": day, "preview": preview}, 422, "date",
                       f"{day} is not a billing day: bill runs are for day 1 of a month")  # fmt: skip


def test_after_the_billing_day_moves_only_the_new_day_is_a_billing_day(
    client: TestClient, ctx: Context, space: Ids
) -> None:
    ok(client, "PATCH", "/settings/billing", {"billing_day": 15}, expect=200)
    assert_refused(client, ctx, "POST", "/bill-runs", {"date": "2027-01-01"}, 422, "date",
                   "2027-01-01 is not a billing day: bill runs are for day 15 of a month")  # fmt: skip
    assert ok(client, "POST", "/bill-runs", {"date": "2027-01-15", "preview": True}, expect=200)["date"] == "2027-01-15"


@pytest.mark.parametrize(
    ("field", "template", "phrase"),
    [
        ("invoice_number_template", "INV-{num}", "must contain {number}"),
        ("invoice_number_template", "INV-0001", "must contain {number}"),
        ("invoice_number_template", "", "is empty"),
        ("invoice_number_template", "INV-{number}-{number}", "exactly once"),
        ("invoice_number_template", "INV-{number:5}", "must contain {number} (e.g. INV-{number:05})"),
        ("invoice_number_template", "{year}-{day}-{number}", "may only use"),
        ("invoice_number_template", "INV-{number", "must contain {number}"),
        ("credit_note_number_template", "CN-{id}", "must contain {number}"),
    ],
)
def test_an_invalid_number_template_is_refused(
    client: TestClient, ctx: Context, field: str, template: str, phrase: str
) -> None:
    assert_refused(client, ctx, "POST", "/locations", new_location(**{field: template}), 422, field, phrase)


def test_a_template_with_every_token_is_accepted(client: TestClient) -> None:
    template = "{location_code}/{year}{month}/{number:06}"
    assert (
        ok(client, "POST", "/locations", new_location(invoice_number_template=template))["invoice_number_template"]
        == template
    )


@pytest.mark.parametrize(
    ("path", "body", "label"),
    [
        ("/locations", {"name": "London Bridge 2", "code": "LB", "currency": "GBP"}, "location"),
        ("/locations", {"name": "London Bridge 2", "code": "  LB ", "currency": "GBP"}, "location"),
        (
            "/tax-rates",
            {"name": "VAT again", "code": "VAT20", "components": [{"name": "VAT", "rate": "20"}]},
            "tax rate",
        ),
        (
            "/revenue-accounts",
            {"name": "Memberships again", "code": "200", "tax_rate_id": "{vat}"},
            "revenue account",
        ),
    ],
)
def test_a_duplicate_code_is_a_409_naming_code(
    client: TestClient, ctx: Context, space: Ids, path: str, body: dict[str, Any], label: str
) -> None:
    code = body["code"].strip()
    assert_refused(client, ctx, "POST", path, fill(body, space), 409, "code",
                   f"a {label} with code {code!r} already exists")  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field", "phrase"),
    [
        ({"billing_day": 29}, "billing_day", "less than or equal to 28"),
        ({"billing_day": 0}, "billing_day", "greater than or equal to 1"),
        ({"due_days": -1}, "due_days", "greater than or equal to 0"),
        ({"due_days": 366}, "due_days", "less than or equal to 365"),
        ({"generate_days_before": 28}, "generate_days_before", "less than or equal to 27"),
        ({"billing_day": None}, "billing_day", "cannot be empty"),
        ({"grouping": "by_plan"}, "grouping", "'single' or 'separate'"),
        ({"issue_mode": "later"}, "issue_mode", "'issue' or 'draft'"),
        ({"tax_rounding": "per_invoice"}, "tax_rounding", "'per_line' or 'per_document'"),
        ({"accounting_sync": "sometimes"}, "accounting_sync", "'off', 'manual' or 'auto'"),
        # One bad value spoils the whole change: the good one is not applied either.
        ({"due_days": 30, "billing_day": 29}, "billing_day", "less than or equal to 28"),
    ],
)
def test_billing_settings_out_of_range_are_refused_and_left_unchanged(
    client: TestClient, ctx: Context, changes: dict[str, Any], field: str, phrase: str
) -> None:
    before = ok(client, "GET", "/settings/billing", expect=200)
    assert_refused(client, ctx, "PATCH", "/settings/billing", changes, 422, field, phrase)
    assert ok(client, "GET", "/settings/billing", expect=200) == before


def test_customer_fields_that_cannot_be_empty_are_refused_on_patch(
    client: TestClient, ctx: Context, space: Ids
) -> None:
    for name in ("name", "email", "home_location_id", "kind"):
        assert_refused(client, ctx, "PATCH", f"/customers/{space['customer']}", {name: None}, 422, name,
                       "cannot be empty")  # fmt: skip
    assert ok(client, "GET", f"/customers/{space['customer']}", expect=200)["name"] == "Acme Ltd"


def test_a_discount_value_without_its_type_is_refused_naming_the_field(
    client: TestClient, ctx: Context, space: Ids
) -> None:
    body = fill(new_membership(discount_value="10"), space)
    assert_refused(client, ctx, "POST", "/memberships", body, 422, "discount_value",
                   "discount_type and discount_value go together")  # fmt: skip


# --- authentication and scopes ------------------------------------------------------------------------------------


def api_routes(ctx: Context) -> list[tuple[str, str]]:
    """(method, path) of every route the API documents, ids in the path replaced by an unknown one."""
    routes = []
    for path, operations in create_app(ctx).openapi()["paths"].items():
        concrete = re.sub(r"\{\w+\}", UNKNOWN, path)
        routes.extend((method.upper(), concrete) for method in operations)
    return routes


CONTRACT = {
    ("POST", f"{API}/locations"), ("GET", f"{API}/locations"), ("POST", f"{API}/tax-rates"),
    ("GET", f"{API}/tax-rates"), ("POST", f"{API}/revenue-accounts"), ("GET", f"{API}/revenue-accounts"),
    ("POST", f"{API}/plans"), ("GET", f"{API}/plans"), ("POST", f"{API}/customers"), ("GET", f"{API}/customers"),
    ("PATCH", f"{API}/customers/{UNKNOWN}"), ("POST", f"{API}/memberships"), ("GET", f"{API}/memberships"),
    ("PATCH", f"{API}/memberships/{UNKNOWN}"), ("POST", f"{API}/fees"), ("GET", f"{API}/fees"),
    ("GET", f"{API}/settings/billing"), ("PATCH", f"{API}/settings/billing"), ("POST", f"{API}/bill-runs"),
    ("GET", f"{API}/bill-runs/{UNKNOWN}"), ("GET", f"{API}/invoices"), ("GET", f"{API}/invoices/{UNKNOWN}"),
    ("POST", f"{API}/invoices/{UNKNOWN}/issue"), ("POST", f"{API}/invoices/{UNKNOWN}/void"),
    ("POST", f"{API}/invoices/{UNKNOWN}/payments"), ("POST", f"{API}/invoices/{UNKNOWN}/credit-notes"),
    ("GET", f"{API}/credit-notes"), ("GET", f"{API}/exports/invoices.csv"),
}  # fmt: skip


@pytest.fixture
def anonymous(ctx: Context) -> TestClient:
    return TestClient(create_app(ctx))


@pytest.fixture
def read_only(ctx: Context) -> TestClient:
    with ctx.sessions() as db, db.begin():
        key = create_api_key(db, "ro", frozenset({"read"})).key
    return TestClient(create_app(ctx), headers={"Authorization": f"Bearer {key}"})


def test_every_api_route_answers_401_without_a_key_or_with_a_wrong_one(
    client: TestClient, ctx: Context, anonymous: TestClient, space: Ids
) -> None:
    routes = api_routes(ctx)
    assert set(routes) >= CONTRACT
    before = database_contents(ctx)
    for method, path in routes:
        missing = anonymous.request(method, path, json={})
        assert_error(missing, 401, None, "Authorization: Bearer <key>")
        assert missing.headers["www-authenticate"] == "Bearer"
        for header in ("Bearer fbk_not-a-key-we-made", "Bearer", "Basic dXNlcjpwYXNz", "fbk_key-without-scheme"):
            wrong = anonymous.request(method, path, json={}, headers={"Authorization": header})
            assert wrong.status_code == 401, (method, path, header, wrong.text)
            assert wrong.json()["field"] is None
    assert database_contents(ctx) == before


def test_a_read_only_key_reads_but_every_write_is_a_403(
    client: TestClient, ctx: Context, read_only: TestClient, space: Ids
) -> None:
    before = database_contents(ctx)
    writes = [(method, path) for method, path in api_routes(ctx) if method != "GET"]
    assert len(writes) >= 12
    for method, path in writes:
        assert_error(read_only.request(method, path, json={}), 403, None, "this API key lacks the 'write' scope")
    # A request that would succeed with a write key is refused just the same.
    refused = read_only.post(f"{API}/locations", json=new_location())
    assert_error(refused, 403, None, "'write' scope")
    refused = read_only.post(f"{API}/invoices/{space['invoice']}/void")
    assert_error(refused, 403, None, "'write' scope")
    assert database_contents(ctx) == before
    # Reading is what the key is for.
    assert read_only.get(f"{API}/invoices/{space['invoice']}").json()["number"] == "LB-0001"
    assert [item["code"] for item in read_only.get(f"{API}/locations").json()["items"]] == ["LB", "PA"]


# --- pagination -----------------------------------------------------------------------------------------------------

LISTS = [
    "/locations", "/tax-rates", "/revenue-accounts", "/plans", "/customers", "/memberships", "/fees", "/invoices",
    "/credit-notes",
]  # fmt: skip


@pytest.mark.parametrize("path", LISTS)
def test_a_list_refuses_a_cursor_it_did_not_return_and_a_limit_out_of_range(
    client: TestClient, space: Ids, path: str
) -> None:
    for cursor in ("abc", "0190f2c4", "'; DROP TABLE invoices; --"):
        assert_error(client.get(f"{API}{path}", params={"cursor": cursor}), 422, "cursor",
                     f"cursor {cursor!r} is not one this API returned")  # fmt: skip
    for limit in (0, -1, 1001):
        assert_error(client.get(f"{API}{path}", params={"limit": limit}), 422, "limit")
    assert_error(client.get(f"{API}{path}", params={"limit": "ten"}), 422, "limit", "integer")
    assert client.get(f"{API}{path}", params={"limit": 1000}).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/invoices", {"status": "unpaid"}, "status"),
        ("/invoices", {"customer_id": "acme"}, "customer_id"),
        ("/invoices", {"location_id": "LB"}, "location_id"),
        ("/invoices", {"bill_run_id": "1"}, "bill_run_id"),
        ("/invoices", {"overdue": "perhaps"}, "overdue"),
        ("/credit-notes", {"invoice_id": "LB-0001"}, "invoice_id"),
        ("/memberships", {"customer_id": "acme"}, "customer_id"),
        ("/exports/invoices.csv", {"from": "2026-13-01"}, "from"),
        ("/exports/invoices.csv", {"to": "yesterday"}, "to"),
        ("/exports/invoices.csv", {"status": "unpaid"}, "status"),
        ("/exports/invoices.csv", {"location_id": "LB"}, "location_id"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    assert_error(client.get(f"{API}{path}", params=params), 422, field)
