"""The fields a ``where`` filter or an ``order`` can name, per kind of record, with their values.

Names are matched without regard to case and are dotted for nested records (``Contact.ContactID``).
"""

from __future__ import annotations

from flexbill.sandbox.xero.model import Account, Contact, Document, Payment, TaxRate, TrackingCategory
from flexbill.sandbox.xero.state import Organisation

Values = dict[str, object]


def _lower(values: Values) -> Values:
    return {key.lower(): value for key, value in values.items()}


def contact_values(contact: Contact) -> Values:
    return _lower(
        {
            "ContactID": contact.contact_id,
            "ContactNumber": contact.contact_number,
            "AccountNumber": contact.account_number,
            "ContactStatus": contact.status,
            "Name": contact.name,
            "FirstName": contact.first_name,
            "LastName": contact.last_name,
            "EmailAddress": contact.email,
            "TaxNumber": contact.tax_number,
            "CompanyNumber": contact.company_number,
            "DefaultCurrency": contact.default_currency,
            "IsCustomer": contact.is_customer,
            "IsSupplier": contact.is_supplier,
            "UpdatedDateUTC": contact.updated,
        }
    )


def document_values(org: Organisation, doc: Document) -> Values:
    contact = org.contacts[doc.contact_id]
    number_field = "InvoiceNumber" if doc.kind == "invoice" else "CreditNoteNumber"
    id_field = "InvoiceID" if doc.kind == "invoice" else "CreditNoteID"
    outstanding = "AmountDue" if doc.kind == "invoice" else "RemainingCredit"
    return _lower(
        {
            id_field: doc.doc_id,
            number_field: doc.number,
            "Type": doc.type,
            "Status": doc.status,
            "Reference": doc.reference,
            "Date": doc.date,
            "DueDate": doc.due_date,
            "FullyPaidOnDate": doc.fully_paid_on,
            "UpdatedDateUTC": doc.updated,
            "CurrencyCode": doc.currency_code,
            "LineAmountTypes": doc.line_amount_types,
            "SubTotal": doc.sub_total,
            "TotalTax": doc.total_tax,
            "Total": doc.total,
            "AmountPaid": doc.amount_paid,
            "AmountCredited": doc.amount_credited,
            outstanding: doc.outstanding,
            "SentToContact": doc.sent_to_contact,
            "Contact.ContactID": contact.contact_id,
            "Contact.Name": contact.name,
            "Contact.ContactNumber": contact.contact_number,
        }
    )


def payment_values(org: Organisation, payment: Payment) -> Values:
    doc = org.documents(payment.doc_kind)[payment.doc_id]
    account = org.accounts[payment.account_id]
    values: Values = {
        "PaymentID": payment.payment_id,
        "Status": payment.status,
        "PaymentType": payment.payment_type,
        "Date": payment.date,
        "Amount": payment.amount,
        "Reference": payment.reference,
        "IsReconciled": payment.is_reconciled,
        "UpdatedDateUTC": payment.updated,
        "Account.AccountID": account.account_id,
        "Account.Code": account.code,
        "Invoice.InvoiceID": doc.doc_id if doc.kind == "invoice" else None,
        "Invoice.InvoiceNumber": doc.number if doc.kind == "invoice" else None,
        "Invoice.Contact.ContactID": doc.contact_id if doc.kind == "invoice" else None,
        "CreditNote.CreditNoteID": doc.doc_id if doc.kind == "credit_note" else None,
        "CreditNote.CreditNoteNumber": doc.number if doc.kind == "credit_note" else None,
    }
    return _lower(values)


def account_values(account: Account) -> Values:
    return _lower(
        {
            "AccountID": account.account_id,
            "Code": account.code,
            "Name": account.name,
            "Type": account.type,
            "Class": account.account_class,
            "Status": account.status,
            "TaxType": account.tax_type,
            "EnablePaymentsToAccount": account.enable_payments,
            "SystemAccount": account.system_account or None,
            "BankAccountType": "BANK" if account.type == "BANK" else None,
            "UpdatedDateUTC": account.updated,
        }
    )


def tax_rate_values(rate: TaxRate) -> Values:
    return _lower(
        {
            "Name": rate.name,
            "TaxType": rate.tax_type,
            "Status": rate.status,
            "ReportTaxType": rate.report_tax_type,
            "EffectiveRate": rate.effective_rate,
            "DisplayTaxRate": rate.effective_rate,
            "CanApplyToRevenue": rate.can_apply_to_revenue,
            "CanApplyToExpenses": rate.can_apply_to_expenses,
        }
    )


def tracking_values(category: TrackingCategory) -> Values:
    return _lower({"TrackingCategoryID": category.category_id, "Name": category.name, "Status": category.status})


def currency_values(code: str) -> Values:
    return {"code": code}


CONTACT_FIELDS = {
    "contactid", "contactnumber", "accountnumber", "contactstatus", "name", "firstname", "lastname", "emailaddress",
    "taxnumber", "companynumber", "defaultcurrency", "iscustomer", "issupplier", "updateddateutc",
}  # fmt: skip
INVOICE_FIELDS = {
    "invoiceid", "invoicenumber", "type", "status", "reference", "date", "duedate", "fullypaidondate",
    "updateddateutc", "currencycode", "lineamounttypes", "subtotal", "totaltax", "total", "amountpaid",
    "amountcredited", "amountdue", "senttocontact", "contact.contactid", "contact.name", "contact.contactnumber",
}  # fmt: skip
CREDIT_NOTE_FIELDS = (INVOICE_FIELDS - {"invoiceid", "invoicenumber", "amountdue", "duedate"}) | {
    "creditnoteid", "creditnotenumber", "remainingcredit", "duedate",
}  # fmt: skip
PAYMENT_FIELDS = {
    "paymentid", "status", "paymenttype", "date", "amount", "reference", "isreconciled", "updateddateutc",
    "account.accountid", "account.code", "invoice.invoiceid", "invoice.invoicenumber", "invoice.contact.contactid",
    "creditnote.creditnoteid", "creditnote.creditnotenumber",
}  # fmt: skip
ACCOUNT_FIELDS = {
    "accountid", "code", "name", "type", "class", "status", "taxtype", "enablepaymentstoaccount", "systemaccount",
    "bankaccounttype", "updateddateutc",
}  # fmt: skip
TAX_RATE_FIELDS = {
    "name", "taxtype", "status", "reporttaxtype", "effectiverate", "displaytaxrate", "canapplytorevenue",
    "canapplytoexpenses",
}  # fmt: skip
TRACKING_FIELDS = {"trackingcategoryid", "name", "status"}
CURRENCY_FIELDS = {"code"}
