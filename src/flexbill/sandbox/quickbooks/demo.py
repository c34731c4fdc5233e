"""The demo company every QuickBooks sandbox starts with: "Demo Coworking Ltd", a UK company billing in GBP and EUR.

It is what a coworking operator with a London and a Berlin space would have set up in QuickBooks Online: a UK
VAT company (so transactions carry real tax codes and ``GlobalTaxCalculation``), multicurrency on with EUR,
service items that post to "Sales" and "Other Revenue", the UK VAT codes plus a 19% code for German sales,
"Location" tracking (QuickBooks' Departments) for London and Berlin, and one vendor and one employee whose names
a customer cannot take. The sales forms have one custom field, "flexbill id" (DefinitionId "1").

Every list is returned fresh, as the wire dictionaries QuickBooks answers with (``Id`` and ``SyncToken`` are
added by the company when it stores them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

REALM_ID = "9341453050298296"
NAME = "Demo Coworking Ltd"
HOME_CURRENCY = "GBP"
TIMEZONE = "Europe/London"
CURRENCIES: dict[str, str] = {"GBP": "British Pound Sterling", "EUR": "Euro"}
# Home-currency units for one unit of the foreign currency, as QuickBooks quotes ExchangeRate; used when a
# transaction in EUR gives no rate.
EXCHANGE_RATES: dict[str, Decimal] = {"GBP": Decimal("1"), "EUR": Decimal("0.87")}
FIRST_DOC_NUMBER = 1001
CUSTOM_FIELD_NAME = "flexbill id"

Entity = dict[str, Any]


def ref(value: str, name: str | None = None) -> dict[str, str]:
    return {"value": value, "name": name} if name is not None else {"value": value}


def accounts() -> list[Entity]:
    """The chart of accounts, with the Ids the rest of the demo refers to."""

    def account(id_: str, name: str, type_: str, sub_type: str, classification: str, **extra: Any) -> Entity:
        return {
            "Id": id_,
            "Name": name,
            "FullyQualifiedName": name,
            "AccountType": type_,
            "AccountSubType": sub_type,
            "Classification": classification,
            "Active": True,
            "SubAccount": False,
            "CurrentBalance": Decimal("0"),
            "CurrentBalanceWithSubAccounts": Decimal("0"),
            "CurrencyRef": ref("GBP", CURRENCIES["GBP"]),
            **extra,
        }

    return [
        account("35", "Business Bank Account", "Bank", "Checking", "Asset", AcctNum="090"),
        account("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"),
        account("36", "Stripe Clearing", "Bank", "Checking", "Asset", AcctNum="091"),
        account("84", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
        account("85", "Accounts Receivable (A/R) - EUR", "Accounts Receivable", "AccountsReceivable", "Asset",
                CurrencyRef=ref("EUR", CURRENCIES["EUR"])),
        account("1", "Sales", "Income", "SalesOfProductIncome", "Revenue", AcctNum="200"),
        account("2", "Other Revenue", "Income", "OtherPrimaryIncome", "Revenue", AcctNum="260"),
        account("3", "Interest Income", "Other Income", "InterestEarned", "Revenue", AcctNum="270"),
        account("33", "VAT Control", "Other Current Liability", "GlobalTaxPayable", "Liability"),
        account("34", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "Liability"),
    ]  # fmt: skip


def tax_rates() -> list[Entity]:
    def rate(id_: str, name: str, value: str, description: str) -> Entity:
        return {
            "Id": id_,
            "Name": name,
            "Description": description,
            "Active": True,
            "RateValue": Decimal(value),
            "AgencyRef": ref("1"),
            "SpecialTaxType": "NONE" if value != "0" else "ZERO_RATE",
            "DisplayType": "ReadOnly",
            "EffectiveTaxRate": [{"RateValue": Decimal(value), "EffectiveDate": "2011-01-04T00:00:00Z"}],
        }

    return [
        rate("1", "20.0% S", "20", "Standard rated sales"),
        rate("2", "5.0% R", "5", "Reduced rated sales"),
        rate("3", "0.0% Z", "0", "Zero rated sales"),
        rate("4", "Exempt", "0", "Exempt sales"),
        rate("5", "No VAT", "0", "Outside the scope of VAT"),
        rate("6", "19.0% DE", "19", "German VAT on Berlin sales"),
    ]


def tax_codes() -> list[Entity]:
    def code(id_: str, name: str, rate_id: str, description: str, *, taxable: bool = True) -> Entity:
        return {
            "Id": id_,
            "Name": name,
            "Description": description,
            "Active": True,
            "Hidden": False,
            "Taxable": taxable,
            "TaxGroup": False,
            "SalesTaxRateList": {
                "TaxRateDetail": [{"TaxRateRef": ref(rate_id, name), "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}]
            },
            "PurchaseTaxRateList": {"TaxRateDetail": []},
        }

    return [
        code("2", "20.0% S", "1", "Standard rated"),
        code("3", "5.0% R", "2", "Reduced rated"),
        code("4", "0.0% Z", "3", "Zero rated"),
        code("5", "Exempt", "4", "Exempt", taxable=False),
        code("6", "No VAT", "5", "Outside the scope of VAT", taxable=False),
        code("7", "19.0% DE", "6", "German VAT (Berlin)"),
    ]


def items() -> list[Entity]:
    def item(id_: str, name: str, account_id: str, account_name: str, description: str) -> Entity:
        return {
            "Id": id_,
            "Name": name,
            "FullyQualifiedName": name,
            "Description": description,
            "Type": "Service",
            "Active": True,
            "Taxable": True,
            "UnitPrice": Decimal("0"),
            "IncomeAccountRef": ref(account_id, account_name),
            "SalesTaxCodeRef": ref("2", "20.0% S"),
            "SalesTaxIncluded": False,
            "TrackQtyOnHand": False,
        }

    return [
        item("1", "Services", "1", "Sales", "The default item of lines that name none."),
        item("2", "Memberships", "1", "Sales", "Memberships and desk rental."),
        item("3", "Meeting rooms and extras", "2", "Other Revenue", "Meeting room bookings and extras."),
        item("4", "Day passes", "1", "Sales", "Day passes."),
    ]


def departments() -> list[Entity]:
    def department(id_: str, name: str) -> Entity:
        return {"Id": id_, "Name": name, "FullyQualifiedName": name, "SubDepartment": False, "Active": True}

    return [department("1", "London"), department("2", "Berlin")]


def vendors() -> list[Entity]:
    return [
        {
            "Id": "56",
            "DisplayName": "Office Supplies Direct",
            "CompanyName": "Office Supplies Direct Ltd",
            "PrintOnCheckName": "Office Supplies Direct Ltd",
            "Active": True,
            "Balance": Decimal("0"),
            "CurrencyRef": ref("GBP", CURRENCIES["GBP"]),
        }
    ]


def employees() -> list[Entity]:
    return [
        {
            "Id": "57",
            "DisplayName": "Sam Manager",
            "GivenName": "Sam",
            "FamilyName": "Manager",
            "PrintOnCheckName": "Sam Manager",
            "Active": True,
        }
    ]


def company_info() -> Entity:
    address = {
        "Id": "1",
        "Line1": "1 Clerkenwell Close",
        "City": "London",
        "Country": "GB",
        "PostalCode": "EC1R 0AA",
    }
    return {
        "Id": "1",
        "CompanyName": NAME,
        "LegalName": "Demo Coworking Limited",
        "CompanyAddr": address,
        "CustomerCommunicationAddr": address,
        "LegalAddr": address,
        "PrimaryPhone": {"FreeFormNumber": "020 7946 0000"},
        "CompanyStartDate": "2024-01-01",
        "FiscalYearStartMonth": "April",
        "Country": "GB",
        "Email": {"Address": "accounts@demo-coworking.example"},
        "WebAddr": {"URI": "https://demo-coworking.example"},
        "SupportedLanguages": "en",
        "DefaultTimeZone": TIMEZONE,
        "NameValue": [
            {"Name": "NeoEnabled", "Value": "true"},
            {"Name": "IndustryType", "Value": "Real estate: coworking"},
            {"Name": "CompanyType", "Value": "Limited Company"},
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
        ],
    }


def custom_field_prefs(enabled: bool) -> list[Entity]:
    """``SalesFormsPrefs.CustomField`` as QuickBooks shows the sales forms' custom field definitions."""
    uses = [
        {"Name": f"SalesFormsPrefs.UseSalesCustom{n}", "Type": "BooleanType", "BooleanValue": enabled and n == 1}
        for n in (1, 2, 3)
    ]
    names = (
        [{"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": CUSTOM_FIELD_NAME}]
        if enabled
        else []
    )
    return [{"CustomField": uses}, {"CustomField": names}]


def preferences(*, custom_txn_numbers: bool, custom_field: bool) -> Entity:
    return {
        "Id": "1",
        "AccountingInfoPrefs": {
            "TrackDepartments": True,
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": False,
            "CustomerTerminology": "Customers",
        },
        "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True, "QuantityWithPriceAndRate": True},
        "SalesFormsPrefs": {
            "CustomField": custom_field_prefs(custom_field),
            "CustomTxnNumbers": custom_txn_numbers,
            "AllowDeposit": False,
            "AllowDiscount": True,
            "AllowEstimates": True,
            "AllowShipping": False,
            "AllowServiceDate": True,
            "DefaultTerms": ref("3"),
            "ETransactionEnabledStatus": "NotApplicable",
            "UsingPriceLevels": False,
            "UsingProgressInvoicing": False,
        },
        "EmailMessagesPrefs": {
            "InvoiceMessage": {"Subject": f"Invoice from {NAME}", "Message": "Please find your invoice attached."}
        },
        "VendorAndPurchasesPrefs": {"TrackingByCustomer": False, "BillableExpenseTracking": False},
        "TimeTrackingPrefs": {"UseServices": False},
        "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": ref(HOME_CURRENCY)},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": ""}]},
    }
