"""Control endpoints: state, reset, preferences, changes a user makes in QuickBooks, time, docs and mounting."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi.testclient import TestClient

from flexbill.sandbox import RunningSandbox, SandboxClock
from flexbill.sandbox.quickbooks.demo import REALM_ID
from tests.sandbox.quickbooks.support import QuickBooks, dec, line


def test_state_counts_calls_and_reset_starts_afresh(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    qbo.invoice(customer["Id"])
    qbo.post("customer", {"DisplayName": "acme ltd"})
    state = qbo.control("GET", "state").json()
    assert state["realm_id"] == REALM_ID
    assert state["company_name"] == "Demo Coworking Ltd"
    assert state["counts"]["Customer"] == 1
    assert state["counts"]["Invoice"] == 1
    assert state["calls"]["by_endpoint"]["POST /v3/company/{realmId}/customer"] == 2
    assert state["calls"]["by_status"] == {"200": 2, "400": 1}
    assert state["calls"]["faults_by_code"] == {"6240": 1}
    assert state["tokens"]["grants"] == 1
    assert state["now"] == "2026-11-02T09:30:00.000+00:00"
    after = qbo.control("POST", "reset").json()
    assert after["counts"]["Customer"] == 0
    assert after["calls"]["total"] == 0
    assert qbo.get(f"companyinfo/{qbo.realm_id}").status_code == 200  # tokens survive a reset
    qbo.control("POST", "reset", {"tokens": True})
    assert qbo.get(f"companyinfo/{qbo.realm_id}").status_code == 401


def test_preferences_and_company_info(qbo: QuickBooks) -> None:
    assert qbo.control("GET", "preferences").json() == {
        "custom_txn_numbers": False,
        "custom_field": True,
        "print_custom_field": False,
    }
    prefs = qbo.ok(qbo.get("preferences"), "Preferences")
    sales = prefs["SalesFormsPrefs"]
    assert sales["CustomTxnNumbers"] is False
    assert {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": True} in sales[
        "CustomField"
    ][0]["CustomField"]
    assert sales["CustomField"][1]["CustomField"] == [
        {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "flexbill id"}
    ]
    assert prefs["CurrencyPrefs"]["MultiCurrencyEnabled"] is True
    assert prefs["CurrencyPrefs"]["HomeCurrency"] == {"value": "GBP"}
    qbo.control("PUT", "preferences", {"custom_txn_numbers": True})
    updated = qbo.ok(qbo.get("preferences"), "Preferences")
    assert updated["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    assert updated["SyncToken"] == "1"
    company = qbo.ok(qbo.get(f"companyinfo/{qbo.realm_id}"), "CompanyInfo")
    assert company["CompanyName"] == "Demo Coworking Ltd"
    assert company["Country"] == "GB"
    assert qbo.control("POST", "reset").status_code == 200
    assert qbo.control("GET", "preferences").json()["custom_txn_numbers"] is False


def test_a_user_pays_voids_and_deletes_invoices_in_quickbooks(qbo: QuickBooks) -> None:
    customer = qbo.customer()
    invoice = qbo.invoice(customer["Id"], line("100.00"))
    paid = qbo.control("POST", f"invoices/{invoice['DocNumber']}/pay", {"amount": "20.00", "date": "2026-11-05"})
    assert paid.status_code == 200, paid.text
    payment = paid.json()["Payment"]
    assert payment["DepositToAccountRef"]["name"] == "Business Bank Account"
    assert payment["TxnDate"] == "2026-11-05"
    assert dec(qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")["Balance"]) == 100
    refused = qbo.control("POST", f"invoices/{invoice['Id']}/void")
    assert refused.status_code == 409
    assert refused.json()["Fault"]["Error"][0]["code"] == "6000"
    rest = qbo.control("POST", f"invoices/{invoice['Id']}/pay")
    assert dec(rest.json()["Payment"]["TotalAmt"]) == 100
    assert dec(qbo.ok(qbo.get(f"invoice/{invoice['Id']}"), "Invoice")["Balance"]) == 0
    other = qbo.invoice(customer["Id"])
    voided = qbo.control("POST", f"invoices/{other['Id']}/void").json()["Invoice"]
    assert dec(voided["TotalAmt"]) == 0
    third = qbo.invoice(customer["Id"])
    assert qbo.control("POST", f"invoices/{third['DocNumber']}/delete").json()["Invoice"]["status"] == "Deleted"
    assert qbo.control("POST", "invoices/NOPE/pay").status_code == 404


def test_a_user_edits_a_customer(qbo: QuickBooks) -> None:
    customer = qbo.customer("Acme Ltd", Notes="flexbill:cus_1")
    qbo.customer("Beta GmbH")
    edited = qbo.control("POST", f"customers/{customer['Id']}", {"DisplayName": "Acme Holdings Ltd"})
    assert edited.status_code == 200
    read = qbo.ok(qbo.get(f"customer/{customer['Id']}"), "Customer")
    assert read["DisplayName"] == "Acme Holdings Ltd"
    assert read["Notes"] == "flexbill:cus_1"
    assert read["SyncToken"] == "1"
    clash = qbo.control("POST", f"customers/{customer['Id']}", {"DisplayName": "beta gmbh"})
    assert clash.status_code == 409
    assert qbo.control("POST", f"customers/{customer['Id']}", [1, 2]).status_code == 400
    assert qbo.control("POST", "customers/9999", {"Notes": "x"}).status_code == 404


def test_time_is_the_shared_sandbox_clock(qbo: QuickBooks, clock: SandboxClock, qb_client: TestClient) -> None:
    moved = qbo.control("PUT", "time", {"advance_seconds": 3600}).json()
    assert moved["now"] == (clock.now()).isoformat()
    assert qb_client.get("/xero/_sandbox/time").json()["now"] == moved["now"]
    clock.advance(timedelta(days=1))
    customer = qbo.customer()
    assert customer["MetaData"]["CreateTime"] == "2026-11-03T10:30:00+00:00"


def test_docs_page_and_root_page(qb_client: TestClient) -> None:
    docs = qb_client.get("/quickbooks/_sandbox/docs")
    assert docs.status_code == 200
    paths = qb_client.get("/quickbooks/_sandbox/openapi.json").json()["paths"]
    for path in (
        "/_sandbox/state",
        "/_sandbox/reset",
        "/_sandbox/webhooks",
        "/_sandbox/webhooks/flush",
        "/_sandbox/tokens",
        "/_sandbox/tokens/revoke-all",
        "/_sandbox/tokens/expire-access",
        "/_sandbox/limits",
        "/_sandbox/preferences",
        "/_sandbox/faults",
        "/_sandbox/time",
        "/_sandbox/invoices/{identifier}/pay",
        "/_sandbox/invoices/{identifier}/void",
        "/_sandbox/invoices/{identifier}/delete",
        "/_sandbox/customers/{customer_id}",
    ):
        assert path in paths, path
    home = qb_client.get("/").text
    assert "/quickbooks/v3/company/" in home
    assert "/quickbooks/_sandbox/docs" in home


def test_the_running_server_names_the_quickbooks_sandbox(qb_server: RunningSandbox, qb_http: httpx.Client) -> None:
    assert qb_server.quickbooks_url == f"{qb_server.base_url}/quickbooks"
    assert qb_server.quickbooks.public_url == qb_server.quickbooks_url
    assert qb_server.quickbooks.clock is qb_server.xero.clock
    assert qb_http.get("/quickbooks/_sandbox/state").json()["realm_id"] == REALM_ID
