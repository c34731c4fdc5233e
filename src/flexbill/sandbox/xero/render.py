"""The organisation's records as Xero's JSON (field names, order and formats of the official spec).

Callers hold the organisation's lock while rendering, so a document and the payments it lists are one snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flexbill.sandbox.xero import demo
from flexbill.sandbox.xero.model import (
    DOCUMENT_STATUSES,
    Account,
    Allocation,
    Contact,
    Document,
    Line,
    Payment,
    TaxRate,
    TrackingCategory,
)
from flexbill.sandbox.xero.reader import is_guid, normal_id
from flexbill.sandbox.xero.state import Organisation
from flexbill.sandbox.xero.wire import (
    CENT,
    FOUR_PLACES,
    SIX_PLACES,
    Json,
    date_string,
    messages,
    money,
    ms_date,
    ms_datetime,
    parse_decimal,
    round_to,
    utc_string,
)

Wire = dict[str, Any]


def _unit(value: Decimal, unitdp: int) -> Decimal:
    return round_to(value, FOUR_PLACES if unitdp == 4 else CENT)


# -- contacts --------------------------------------------------------------------------------------------------


def contact_summary(contact: Contact) -> Wire:
    """The contact as a document shows it."""
    body: Wire = {"ContactID": contact.contact_id}
    if contact.contact_number:
        body["ContactNumber"] = contact.contact_number
    body.update(
        {
            "Name": contact.name,
            "Addresses": [],
            "Phones": [],
            "ContactGroups": [],
            "ContactPersons": [],
            "HasValidationErrors": False,
        }
    )
    return body


def contact(contact: Contact) -> Wire:
    body: Wire = {"ContactID": contact.contact_id}
    optional = {
        "ContactNumber": contact.contact_number,
        "AccountNumber": contact.account_number,
    }
    body.update({key: value for key, value in optional.items() if value})
    body["ContactStatus"] = contact.status
    body["Name"] = contact.name
    details = {
        "FirstName": contact.first_name,
        "LastName": contact.last_name,
        "CompanyNumber": contact.company_number,
        "EmailAddress": contact.email,
        "BankAccountDetails": contact.bank_account_details,
        "TaxNumber": contact.tax_number,
        "AccountsReceivableTaxType": contact.accounts_receivable_tax_type,
        "SalesDefaultAccountCode": contact.sales_default_account_code,
        "DefaultCurrency": contact.default_currency,
    }
    body.update({key: value for key, value in details.items() if value})
    body["Addresses"] = [dict(address) for address in contact.addresses]
    body["Phones"] = [dict(phone) for phone in contact.phones]
    body["UpdatedDateUTC"] = ms_datetime(contact.updated)
    body["ContactGroups"] = []
    body["IsSupplier"] = contact.is_supplier
    body["IsCustomer"] = contact.is_customer
    body["SalesTrackingCategories"] = []
    body["PurchasesTrackingCategories"] = []
    body["ContactPersons"] = [dict(person) for person in contact.persons]
    body["HasAttachments"] = False
    body["HasValidationErrors"] = False
    return body


# -- invoices and credit notes ---------------------------------------------------------------------------------


def line(org: Organisation, item: Line, unitdp: int) -> Wire:
    body: Wire = {"LineItemID": item.line_id, "Description": item.description}
    body["Quantity"] = round_to(item.quantity, FOUR_PLACES)
    body["UnitAmount"] = _unit(item.unit_amount, unitdp)
    if item.account_code:
        body["AccountCode"] = item.account_code
    if item.account_id:
        body["AccountID"] = item.account_id
    body["TaxType"] = item.tax_type
    body["TaxAmount"] = money(item.tax_amount)
    body["LineAmount"] = money(item.line_amount)
    if item.discount_rate is not None:
        body["DiscountRate"] = item.discount_rate
    if item.discount_amount is not None:
        body["DiscountAmount"] = item.discount_amount
    tracking = []
    for category_id, option_id in item.tracking:
        category = org.tracking[category_id]
        option = next(o for o in category.options if o.option_id == option_id)
        tracking.append(
            {
                "Name": category.name,
                "Option": option.name,
                "TrackingCategoryID": category.category_id,
                "TrackingOptionID": option.option_id,
            }
        )
    body["Tracking"] = tracking
    return body


def _payment_on_document(payment: Payment) -> Wire:
    body: Wire = {"PaymentID": payment.payment_id, "Date": ms_date(payment.date), "Amount": payment.amount}
    if payment.reference:
        body["Reference"] = payment.reference
    body.update({"CurrencyRate": payment.currency_rate, "HasAccount": False, "HasValidationErrors": False})
    return body


def _dates(doc: Document) -> Wire:
    body: Wire = {"DateString": date_string(doc.date), "Date": ms_date(doc.date)}
    if doc.due_date is not None:
        body["DueDateString"] = date_string(doc.due_date)
        body["DueDate"] = ms_date(doc.due_date)
    return body


def _totals(org: Organisation, doc: Document, *, lines: bool, unitdp: int) -> Wire:
    body: Wire = {"Status": doc.status, "LineAmountTypes": doc.line_amount_types}
    body["LineItems"] = [line(org, item, unitdp) for item in doc.lines] if lines else []
    body["SubTotal"] = doc.sub_total
    body["TotalTax"] = doc.total_tax
    body["Total"] = doc.total
    discount = doc.total_discount
    if discount:
        body["TotalDiscount"] = discount
    body["UpdatedDateUTC"] = ms_datetime(doc.updated)
    body["UpdatedDateUTCString"] = utc_string(doc.updated)
    body["CurrencyCode"] = doc.currency_code
    if doc.fully_paid_on is not None:
        body["FullyPaidOnDate"] = ms_date(doc.fully_paid_on)
    return body


def _live_payments(org: Organisation, doc: Document) -> list[Payment]:
    return [org.payments[p] for p in doc.payment_ids if org.payments[p].status != "DELETED"]


def _live_allocations(org: Organisation, doc: Document) -> list[Allocation]:
    return [org.allocations[a] for a in doc.allocation_ids if not org.allocations[a].is_deleted]


def invoice(org: Organisation, doc: Document, *, lines: bool = True, unitdp: int = 2) -> Wire:
    credit_notes = []
    for allocation in _live_allocations(org, doc):
        note = org.credit_notes[allocation.credit_note_id]
        credit_notes.append(
            {
                "CreditNoteID": note.doc_id,
                "CreditNoteNumber": note.number,
                "AppliedAmount": allocation.amount,
                "DateString": date_string(allocation.date),
                "Date": ms_date(allocation.date),
                "LineItems": [],
                "Total": note.total,
                "HasErrors": False,
            }
        )
    body: Wire = {
        "Type": doc.type,
        "InvoiceID": doc.doc_id,
        "InvoiceNumber": doc.number,
        "Reference": doc.reference or "",
        "Payments": [_payment_on_document(p) for p in _live_payments(org, doc)],
        "CreditNotes": credit_notes,
        "Prepayments": [],
        "Overpayments": [],
        "AmountDue": doc.outstanding,
        "AmountPaid": doc.amount_paid,
        "AmountCredited": doc.amount_credited,
        "SentToContact": doc.sent_to_contact,
        "CurrencyRate": round_to(doc.currency_rate, SIX_PLACES),
        "IsDiscounted": any(item.discount_rate or item.discount_amount for item in doc.lines),
        "HasAttachments": False,
        "HasErrors": False,
        "Contact": contact_summary(org.contacts[doc.contact_id]),
    }
    body.update(_dates(doc))
    body.update(_totals(org, doc, lines=lines, unitdp=unitdp))
    _extras(doc, body)
    return body


def credit_note(org: Organisation, doc: Document, *, lines: bool = True, unitdp: int = 2) -> Wire:
    allocations = []
    for allocation in _live_allocations(org, doc):
        target = org.invoices[allocation.invoice_id]
        allocations.append(
            {
                "AllocationID": allocation.allocation_id,
                "Amount": allocation.amount,
                "Date": ms_date(allocation.date),
                "Invoice": {
                    "InvoiceID": target.doc_id,
                    "InvoiceNumber": target.number,
                    "Payments": [],
                    "CreditNotes": [],
                    "Prepayments": [],
                    "Overpayments": [],
                    "HasErrors": False,
                    "IsDiscounted": False,
                    "LineItems": [],
                },
                "IsDeleted": False,
            }
        )
    body: Wire = {
        "Type": doc.type,
        "CreditNoteID": doc.doc_id,
        "CreditNoteNumber": doc.number,
        "Reference": doc.reference or "",
        "Payments": [_payment_on_document(p) for p in _live_payments(org, doc)],
        "Allocations": allocations,
        "RemainingCredit": doc.outstanding,
        "AppliedAmount": doc.amount_credited,
        "SentToContact": doc.sent_to_contact,
        "CurrencyRate": round_to(doc.currency_rate, SIX_PLACES),
        "HasAttachments": False,
        "HasErrors": False,
        "Contact": contact_summary(org.contacts[doc.contact_id]),
    }
    body.update(_dates(doc))
    body.update(_totals(org, doc, lines=lines, unitdp=unitdp))
    _extras(doc, body)
    return body


def _extras(doc: Document, body: Wire) -> None:
    if doc.url:
        body["Url"] = doc.url
    if doc.branding_theme_id:
        body["BrandingThemeID"] = doc.branding_theme_id
    if doc.expected_payment_date:
        body["ExpectedPaymentDate"] = ms_date(doc.expected_payment_date)


def document(org: Organisation, doc: Document, *, lines: bool = True, unitdp: int = 2) -> Wire:
    render = invoice if doc.kind == "invoice" else credit_note
    return render(org, doc, lines=lines, unitdp=unitdp)


# -- payments and allocations ----------------------------------------------------------------------------------


def payment(org: Organisation, item: Payment) -> Wire:
    doc = org.documents(item.doc_kind)[item.doc_id]
    account = org.accounts[item.account_id]
    bank_amount = item.amount
    if doc.currency_code != demo.BASE_CURRENCY and account.currency_code in ("", demo.BASE_CURRENCY):
        bank_amount = money(item.amount / item.currency_rate)
    body: Wire = {
        "PaymentID": item.payment_id,
        "Date": ms_date(item.date),
        "BankAmount": bank_amount,
        "Amount": item.amount,
        "Reference": item.reference or "",
        "CurrencyRate": item.currency_rate,
        "PaymentType": item.payment_type,
        "Status": item.status,
        "UpdatedDateUTC": ms_datetime(item.updated),
        "UpdatedDateUTCString": utc_string(item.updated),
        "HasAccount": True,
        "IsReconciled": item.is_reconciled,
        "Account": {"AccountID": account.account_id, "Code": account.code, "Name": account.name},
    }
    summary: Wire = {
        "Type": doc.type,
        "Contact": {
            "ContactID": doc.contact_id,
            "Name": org.contacts[doc.contact_id].name,
            "HasValidationErrors": False,
        },
        "CurrencyCode": doc.currency_code,
        "LineItems": [],
        "HasErrors": False,
    }
    if doc.kind == "invoice":
        body["Invoice"] = {"InvoiceID": doc.doc_id, "InvoiceNumber": doc.number, **summary, "IsDiscounted": False}
    else:
        body["CreditNote"] = {"CreditNoteID": doc.doc_id, "CreditNoteNumber": doc.number, **summary}
    body["HasValidationErrors"] = False
    return body


def allocation(org: Organisation, item: Allocation) -> Wire:
    target = org.invoices[item.invoice_id]
    note = org.credit_notes[item.credit_note_id]
    return {
        "AllocationID": item.allocation_id,
        "Invoice": {
            "InvoiceID": target.doc_id,
            "InvoiceNumber": target.number,
            "Type": target.type,
            "AmountDue": target.outstanding,
            "AmountCredited": target.amount_credited,
            "Status": target.status,
            "LineItems": [],
            "HasErrors": False,
        },
        "CreditNote": {
            "CreditNoteID": note.doc_id,
            "CreditNoteNumber": note.number,
            "Type": note.type,
            "RemainingCredit": note.outstanding,
            "Status": note.status,
            "LineItems": [],
            "HasErrors": False,
        },
        "Amount": item.amount,
        "Date": ms_date(item.date),
        "IsDeleted": item.is_deleted,
        "StatusAttributeString": "OK",
    }


# -- settings --------------------------------------------------------------------------------------------------


def account(item: Account) -> Wire:
    body: Wire = {
        "AccountID": item.account_id,
        "Code": item.code,
        "Name": item.name,
        "Status": item.status,
        "Type": item.type,
        "TaxType": item.tax_type,
        "Description": item.description,
        "Class": item.account_class,
        "EnablePaymentsToAccount": item.enable_payments,
        "ShowInExpenseClaims": item.show_in_expense_claims,
        "BankAccountType": "BANK" if item.type == "BANK" else "",
        "ReportingCode": item.reporting_code or _reporting_code(item),
        "ReportingCodeName": item.reporting_code_name or item.name,
        "HasAttachments": False,
        "UpdatedDateUTC": ms_datetime(item.updated),
        "AddToWatchlist": False,
    }
    if item.system_account:
        body["SystemAccount"] = item.system_account
    if item.type == "BANK":
        body["BankAccountNumber"] = item.bank_account_number
        body["CurrencyCode"] = item.currency_code or demo.BASE_CURRENCY
    return body


def _reporting_code(item: Account) -> str:
    return {"ASSET": "ASS", "LIABILITY": "LIA", "EQUITY": "EQU", "REVENUE": "REV", "EXPENSE": "EXP"}[item.account_class]


def tax_rate(item: TaxRate) -> Wire:
    rate = item.effective_rate
    return {
        "Name": item.name,
        "TaxType": item.tax_type,
        "ReportTaxType": item.report_tax_type,
        "CanApplyToAssets": item.can_apply_to_assets,
        "CanApplyToEquity": item.can_apply_to_equity,
        "CanApplyToExpenses": item.can_apply_to_expenses,
        "CanApplyToLiabilities": item.can_apply_to_liabilities,
        "CanApplyToRevenue": item.can_apply_to_revenue,
        "DisplayTaxRate": rate,
        "EffectiveRate": rate,
        "Status": item.status,
        "TaxComponents": [
            {
                "Name": c.name,
                "Rate": round_to(c.rate, FOUR_PLACES),
                "IsCompound": c.is_compound,
                "IsNonRecoverable": c.is_non_recoverable,
            }
            for c in item.components
        ],
    }


def tracking_category(item: TrackingCategory) -> Wire:
    return {
        "Name": item.name,
        "Status": item.status,
        "TrackingCategoryID": item.category_id,
        "Options": [
            {
                "TrackingOptionID": o.option_id,
                "Name": o.name,
                "Status": o.status,
                "TrackingCategoryID": item.category_id,
            }
            for o in item.options
        ],
    }


def organisation(org: Organisation) -> Wire:
    p = org.profile
    return {
        "OrganisationID": org.tenant_id,
        "APIKey": "",
        "Name": p.name,
        "LegalName": p.legal_name,
        "PaysTax": True,
        "Version": "UK",
        "OrganisationType": "COMPANY",
        "BaseCurrency": demo.BASE_CURRENCY,
        "CountryCode": "GB",
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "RegistrationNumber": p.registration_number,
        "TaxNumber": p.tax_number,
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Inclusive",
        "CreatedDateUTC": ms_datetime(org.created),
        "Timezone": "GMTSTANDARDTIME",
        "OrganisationEntityType": "COMPANY",
        "ShortCode": p.short_code,
        "Class": "STANDARD",
        "Edition": "BUSINESS",
        "LineOfBusiness": "Coworking and serviced offices",
        "Addresses": [
            {
                "AddressType": "STREET",
                "AddressLine1": p.address_line1,
                "City": p.city,
                "PostalCode": p.postal_code,
                "Country": p.country,
            }
        ],
        "Phones": [{"PhoneType": "OFFICE", "PhoneNumber": p.phone}],
        "ExternalLinks": [],
        "PaymentTerms": {"Sales": {"Day": 14, "Type": "DAYSAFTERBILLDATE"}},
    }


def currency(code: str) -> Wire:
    return {"Code": code, "Description": demo.CURRENCY_NAMES.get(code, code)}


# -- elements echoed back with their errors --------------------------------------------------------------------

_TEXT, _NUMBER, _BOOL, _GUID, _CURRENCY = "text", "number", "bool", "guid", "currency"
_Shape = Mapping[str, object]  # field -> kind, (kind, max length), frozenset of allowed values, or nested shape name

_SHAPES: dict[str, _Shape] = {
    "Address": {
        "AddressType": frozenset({"POBOX", "STREET"}), "AddressLine1": (_TEXT, 500), "AddressLine2": (_TEXT, 500),
        "AddressLine3": (_TEXT, 500), "AddressLine4": (_TEXT, 500), "City": (_TEXT, 255), "Region": (_TEXT, 255),
        "PostalCode": (_TEXT, 50), "Country": (_TEXT, 50), "AttentionTo": (_TEXT, 255),
    },
    "Phone": {
        "PhoneType": frozenset({"DEFAULT", "DDI", "MOBILE", "FAX", "OFFICE"}), "PhoneNumber": (_TEXT, 50),
        "PhoneAreaCode": (_TEXT, 10), "PhoneCountryCode": (_TEXT, 20),
    },
    "ContactPerson": {"FirstName": _TEXT, "LastName": _TEXT, "EmailAddress": _TEXT, "IncludeInEmails": _BOOL},
    "Contact": {
        "ContactID": _GUID, "ContactNumber": (_TEXT, 50), "AccountNumber": (_TEXT, 50),
        "ContactStatus": frozenset({"ACTIVE", "ARCHIVED", "GDPRREQUEST"}), "Name": (_TEXT, 255),
        "FirstName": (_TEXT, 255), "LastName": (_TEXT, 255), "CompanyNumber": (_TEXT, 50),
        "EmailAddress": (_TEXT, 255), "BankAccountDetails": _TEXT, "TaxNumber": (_TEXT, 50),
        "AccountsReceivableTaxType": _TEXT, "DefaultCurrency": _CURRENCY, "Addresses": ["Address"],
        "Phones": ["Phone"], "ContactPersons": ["ContactPerson"], "SalesDefaultAccountCode": _TEXT,
    },
    "LineItemTracking": {"TrackingCategoryID": _GUID, "TrackingOptionID": _GUID, "Name": (_TEXT, 100), "Option": _TEXT},
    "LineItem": {
        "LineItemID": _GUID, "Description": _TEXT, "Quantity": _NUMBER, "UnitAmount": _NUMBER, "ItemCode": _TEXT,
        "AccountCode": _TEXT, "AccountID": _GUID, "TaxType": _TEXT, "TaxAmount": _NUMBER, "LineAmount": _NUMBER,
        "Tracking": ["LineItemTracking"], "DiscountRate": _NUMBER, "DiscountAmount": _NUMBER,
    },
    "Invoice": {
        "Type": frozenset({"ACCPAY", "ACCPAYCREDIT", "APOVERPAYMENT", "APPREPAYMENT", "ACCREC", "ACCRECCREDIT",
                           "AROVERPAYMENT", "ARPREPAYMENT"}),
        "InvoiceID": _GUID, "InvoiceNumber": (_TEXT, 255), "Reference": _TEXT, "Contact": "Contact",
        "Date": _TEXT, "DueDate": _TEXT, "LineAmountTypes": frozenset({"Exclusive", "Inclusive", "NoTax"}),
        "LineItems": ["LineItem"], "Url": _TEXT, "CurrencyCode": _CURRENCY, "CurrencyRate": _NUMBER,
        "Status": frozenset(DOCUMENT_STATUSES), "SentToContact": _BOOL, "ExpectedPaymentDate": _TEXT,
        "BrandingThemeID": _GUID,
    },
    "CreditNote": {
        "Type": frozenset({"ACCPAYCREDIT", "ACCRECCREDIT"}), "CreditNoteID": _GUID, "CreditNoteNumber": _TEXT,
        "Reference": _TEXT, "Contact": "Contact", "Date": _TEXT, "DueDate": _TEXT,
        "LineAmountTypes": frozenset({"Exclusive", "Inclusive", "NoTax"}), "LineItems": ["LineItem"],
        "CurrencyCode": _CURRENCY, "CurrencyRate": _NUMBER, "Status": frozenset(DOCUMENT_STATUSES),
        "BrandingThemeID": _GUID,
    },
    "Account": {"AccountID": _GUID, "Code": _TEXT, "Name": (_TEXT, 150)},
    "Payment": {
        "PaymentID": _GUID, "Invoice": "Invoice", "CreditNote": "CreditNote", "Account": "Account", "Code": _TEXT,
        "InvoiceNumber": _TEXT, "CreditNoteNumber": _TEXT, "Date": _TEXT, "Amount": _NUMBER,
        "CurrencyRate": _NUMBER, "Reference": _TEXT, "IsReconciled": _BOOL,
        "Status": frozenset({"AUTHORISED", "DELETED"}),
    },
    "Allocation": {"AllocationID": _GUID, "Invoice": "Invoice", "Amount": _NUMBER, "Date": _TEXT},
    "TaxComponent": {"Name": _TEXT, "Rate": _NUMBER, "IsCompound": _BOOL, "IsNonRecoverable": _BOOL},
    "TaxRate": {"Name": _TEXT, "TaxType": _TEXT, "TaxComponents": ["TaxComponent"]},
}  # fmt: skip


def _clean(shape_name: str, data: Mapping[str, Json]) -> Wire:
    shape = _SHAPES[shape_name]
    by_lower = {name.lower(): name for name in shape}
    body: Wire = {}
    for key, value in data.items():
        name = by_lower.get(str(key).lower())
        if name is None or value is None:
            continue
        cleaned = _clean_value(shape[name], value)
        if cleaned is not None:
            body[name] = cleaned
    return body


def _clean_value(kind: object, value: Json) -> object:
    if isinstance(kind, list):
        if not isinstance(value, list):
            return None
        return [_clean(kind[0], item) for item in value if isinstance(item, Mapping)]
    if isinstance(kind, str) and kind in _SHAPES:
        return _clean(kind, value) if isinstance(value, Mapping) else None
    if isinstance(kind, frozenset):
        if not isinstance(value, str):
            return None
        return next((allowed for allowed in kind if allowed.lower() == value.strip().lower()), None)
    if isinstance(kind, tuple):
        text = _clean_value(kind[0], value)
        return text if isinstance(text, str) and len(text) <= kind[1] else None
    if kind == _TEXT:
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return str(value)
        return value if isinstance(value, str) else None
    if kind == _NUMBER:
        try:
            return parse_decimal(value)
        except ValueError:
            return None
    if kind == _BOOL:
        return value if isinstance(value, bool) else None
    if kind == _GUID:
        return normal_id(value) if is_guid(value) else None
    if kind == _CURRENCY:
        return value.upper() if isinstance(value, str) and len(value) == 3 and value.isalpha() else None
    return None


_ERROR_FLAGS = {
    "Invoice": "HasErrors",
    "CreditNote": "HasErrors",
    "Contact": "HasValidationErrors",
    "Payment": "HasValidationErrors",
}


def echo(shape_name: str, data: Mapping[str, Json], errors: list[str]) -> Wire:
    """A rejected element as Xero returns it: what was sent (only well-formed fields), and why it failed."""
    body = _clean(shape_name, data)
    if shape_name == "Allocation":
        body.setdefault("Amount", Decimal(0))
        body.setdefault("Invoice", {})
        body.setdefault("Date", "")
    flag = _ERROR_FLAGS.get(shape_name)
    if flag is not None:
        body[flag] = True
    body["StatusAttributeString"] = "ERROR"
    body["ValidationErrors"] = messages(errors)
    return body
