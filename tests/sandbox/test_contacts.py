"""Contacts: unique names among active contacts, numbers, addresses, updates and lists."""

from __future__ import annotations

from datetime import timedelta

from flexbill.sandbox.clock import SandboxClock
from tests.sandbox.support import Xero


def test_a_name_is_unique_among_active_contacts(xero: Xero) -> None:
    first = xero.contact("Acme Ltd")
    duplicate = xero.put("Contacts", {"Contacts": [{"Name": "ACME LTD"}]})
    assert duplicate.status_code == 400
    element = duplicate.json()["Elements"][0]
    assert element["ValidationErrors"] == [
        {
            "Message": "The contact name ACME LTD is already assigned to another contact. "
            "The contact name must be unique across all active contacts."
        }
    ]
    assert element["Name"] == "ACME LTD"
    assert element["HasValidationErrors"] is True
    archived = xero.post(f"Contacts/{first['ContactID']}", {"ContactStatus": "ARCHIVED"}).json()["Contacts"][0]
    assert archived["ContactStatus"] == "ARCHIVED"
    reused = xero.contact("Acme Ltd")
    assert reused["ContactID"] != first["ContactID"]
    restore = xero.post(f"Contacts/{first['ContactID']}", {"ContactStatus": "ACTIVE"})
    assert restore.status_code == 400  # its name is taken again


def test_fields_numbers_and_addresses(xero: Xero) -> None:
    contact = xero.contact(
        "Acme Ltd",
        ContactNumber="CUS-0001",
        AccountNumber="A-1",
        FirstName="Ada",
        LastName="Lovelace",
        EmailAddress="ap@acme.example",
        TaxNumber="GB999999973",
        CompanyNumber="01234567",
        DefaultCurrency="EUR",
        Addresses=[
            {
                "AddressType": "POBOX",
                "AddressLine1": "1 Main St",
                "City": "London",
                "PostalCode": "N1 1AA",
                "Country": "United Kingdom",
            }
        ],
        Phones=[{"PhoneType": "MOBILE", "PhoneNumber": "07700 900000"}],
        ContactPersons=[{"FirstName": "Bob", "EmailAddress": "bob@acme.example", "IncludeInEmails": True}],
    )
    assert contact["ContactNumber"] == "CUS-0001"
    assert contact["TaxNumber"] == "GB999999973"
    assert contact["DefaultCurrency"] == "EUR"
    assert contact["Addresses"][0]["City"] == "London"
    assert contact["ContactPersons"][0]["IncludeInEmails"] is True
    by_number = xero.get("Contacts/CUS-0001").json()["Contacts"][0]
    assert by_number["ContactID"] == contact["ContactID"]
    clash = xero.put("Contacts", {"Contacts": [{"Name": "Other", "ContactNumber": "CUS-0001"}]})
    assert clash.json()["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "The contact number CUS-0001 is already assigned to another contact."
    )
    street = {"AddressType": "STREET", "AddressLine1": "2 High St"}
    updated = xero.post("Contacts", {"Contacts": [{"ContactNumber": "CUS-0001", "Addresses": [street]}]})
    addresses = updated.json()["Contacts"][0]["Addresses"]
    assert [a["AddressType"] for a in addresses] == ["POBOX", "STREET"]  # one per type; the others are kept


def test_invalid_contacts(xero: Xero) -> None:
    cases = {
        "The contact name must be specified": {"EmailAddress": "a@b.example"},
        "Email address must be valid.": {"Name": "X", "EmailAddress": "not an email"},
        "Organisation is not subscribed to currency USD": {"Name": "Y", "DefaultCurrency": "USD"},
        "ContactStatus must be ACTIVE or ARCHIVED": {"Name": "Z", "ContactStatus": "GONE"},
        "Name must not be more than 255 characters long": {"Name": "N" * 256},
    }
    for message, contact in cases.items():
        response = xero.put("Contacts", {"Contacts": [contact]})
        assert response.status_code == 400, message
        messages = [m["Message"] for m in response.json()["Elements"][0]["ValidationErrors"]]
        assert message in messages, (message, messages)
    missing = xero.post("Contacts", {"Contacts": [{"ContactID": "11111111-2222-4333-8444-555555555555", "Name": "Q"}]})
    assert missing.status_code == 400
    assert xero.post("Contacts/11111111-2222-4333-8444-555555555555", {"Name": "Q"}).status_code == 404


def test_lists(xero: Xero, clock: SandboxClock) -> None:
    acme = xero.contact("Acme Ltd", EmailAddress="ap@acme.example")
    clock.advance(timedelta(minutes=10))
    beta = xero.contact("Beta GmbH", ContactNumber="B-2")
    xero.post(f"Contacts/{acme['ContactID']}", {"ContactStatus": "ARCHIVED"})

    def names(**params: str) -> list[str]:
        response = xero.get("Contacts", params=params)
        assert response.status_code == 200, response.text
        return [c["Name"] for c in response.json()["Contacts"]]

    assert names() == ["Beta GmbH"]
    assert names(includeArchived="true") == ["Acme Ltd", "Beta GmbH"]
    assert names(IDs=acme["ContactID"]) == ["Acme Ltd"]
    assert names(searchTerm="ACME", includeArchived="true") == ["Acme Ltd"]
    assert names(where='Name.StartsWith("beta")') == ["Beta GmbH"]
    assert names(where='ContactNumber=="B-2" OR EmailAddress=="ap@acme.example"', includeArchived="true") == [
        "Acme Ltd",
        "Beta GmbH",
    ]
    assert names(order="Name DESC", includeArchived="true") == ["Beta GmbH", "Acme Ltd"]
    since = xero.get(
        "Contacts", params={"includeArchived": "true"}, headers={"If-Modified-Since": beta["UpdatedDateUTC"]}
    )
    assert [c["Name"] for c in since.json()["Contacts"]] == ["Acme Ltd", "Beta GmbH"]  # the archive touched Acme
    paged = xero.get("Contacts", params={"page": "1", "pageSize": "5000", "includeArchived": "true"}).json()
    assert paged["pagination"]["pageSize"] == 1000
