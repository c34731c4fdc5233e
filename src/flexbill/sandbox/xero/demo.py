"""The demo organisation every sandbox starts with: "Demo Coworking Ltd", a UK company that bills in GBP and EUR.

Its chart of accounts, VAT rates and "Location" tracking are what a coworking operator with a London and a
Berlin space would set up in Xero, so the connector's mappings can be rehearsed against realistic codes:
sales post to 200 (memberships) and 260 (other revenue), card payments land on the Stripe clearing account
091, bank transfers on 090, and Berlin sales carry the custom 19% German VAT rate TAX001.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from flexbill.sandbox.xero.model import Account, TaxComponent, TaxRate, TrackingCategory, TrackingOption

NAME = "Demo Coworking Ltd"
TENANT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://flexbill.invalid/sandbox/xero/demo-coworking"))
BASE_CURRENCY = "GBP"
TIMEZONE = "Europe/London"
# Units of the foreign currency for one pound, as Xero quotes CurrencyRate; used when a request gives no rate.
CURRENCY_RATES: dict[str, Decimal] = {"GBP": Decimal("1.000000"), "EUR": Decimal("1.150000")}
CURRENCY_NAMES: dict[str, str] = {"GBP": "British Pound", "EUR": "Euro"}


@dataclass(frozen=True)
class OrganisationProfile:
    name: str = NAME
    legal_name: str = "Demo Coworking Limited"
    registration_number: str = "12345678"
    tax_number: str = "GB123456789"
    short_code: str = "!dCw8k"
    address_line1: str = "1 Clerkenwell Close"
    city: str = "London"
    postal_code: str = "EC1R 0AA"
    country: str = "United Kingdom"
    phone: str = "020 7946 0000"
    email: str = "accounts@demo-coworking.example"


def accounts(new_id: Callable[[], str], now: datetime) -> list[Account]:
    def account(code: str, name: str, type_: str, klass: str, tax: str, **extra: object) -> Account:
        return Account(new_id(), code, name, type_, klass, tax, now, **extra)  # type: ignore[arg-type]

    return [
        account(
            "090", "Business Bank Account", "BANK", "ASSET", "NONE",
            bank_account_number="20-32-06 40308080", currency_code="GBP",
            description="The current account members pay by bank transfer and Direct Debit into.",
        ),
        account(
            "091", "Stripe Clearing", "CURRENT", "ASSET", "NONE", enable_payments=True,
            description="Card payments collected by Stripe, before each payout reaches the bank.",
        ),
        account("200", "Sales", "REVENUE", "REVENUE", "OUTPUT2", description="Memberships and desk rental."),
        account("260", "Other Revenue", "REVENUE", "REVENUE", "OUTPUT2", description="Meeting rooms and extras."),
        account("270", "Interest Income", "OTHERINCOME", "REVENUE", "EXEMPTOUTPUT"),
        account("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", "INPUT2"),
        account("404", "Bank Fees", "OVERHEADS", "EXPENSE", "EXEMPTINPUT", description="Card processing fees."),
        account("429", "General Expenses", "OVERHEADS", "EXPENSE", "INPUT2"),
        account("469", "Rent", "OVERHEADS", "EXPENSE", "EXEMPTINPUT"),
        account("610", "Accounts Receivable", "CURRENT", "ASSET", "NONE", system_account="DEBTORS"),
        account("800", "Accounts Payable", "CURRLIAB", "LIABILITY", "NONE", system_account="CREDITORS"),
        account("820", "VAT", "CURRLIAB", "LIABILITY", "NONE", system_account="GST"),
        account("835", "Deposits Held", "CURRLIAB", "LIABILITY", "NONE", description="Refundable membership deposits."),
        account("860", "Rounding", "CURRLIAB", "LIABILITY", "NONE", system_account="ROUNDING"),
    ]  # fmt: skip


def tax_rates() -> list[TaxRate]:
    def rate(name: str, tax_type: str, report: str, percent: str, *, sales: bool, purchases: bool) -> TaxRate:
        return TaxRate(
            name=name,
            tax_type=tax_type,
            report_tax_type=report,
            components=[TaxComponent("VAT", Decimal(percent))],
            can_apply_to_revenue=sales,
            can_apply_to_expenses=purchases,
            can_apply_to_assets=purchases,
            can_apply_to_liabilities=True,
            can_apply_to_equity=True,
        )

    return [
        rate("20% (VAT on Income)", "OUTPUT2", "OUTPUT", "20", sales=True, purchases=False),
        rate("5% (VAT on Income)", "RROUTPUT", "OUTPUT", "5", sales=True, purchases=False),
        rate("Zero Rated Income", "ZERORATEDOUTPUT", "OUTPUT", "0", sales=True, purchases=False),
        rate("Exempt Income", "EXEMPTOUTPUT", "EXEMPTOUTPUT", "0", sales=True, purchases=False),
        rate("No VAT", "NONE", "NONE", "0", sales=True, purchases=True),
        rate("20% (VAT on Expenses)", "INPUT2", "INPUT", "20", sales=False, purchases=True),
        rate("Zero Rated Expenses", "ZERORATEDINPUT", "INPUT", "0", sales=False, purchases=True),
        rate("Exempt Expenses", "EXEMPTINPUT", "EXEMPTINPUT", "0", sales=False, purchases=True),
        rate("19% German VAT", "TAX001", "OUTPUT", "19", sales=True, purchases=False),
    ]


def tracking(new_id: Callable[[], str]) -> list[TrackingCategory]:
    return [
        TrackingCategory(new_id(), "Location", [TrackingOption(new_id(), "London"), TrackingOption(new_id(), "Berlin")])
    ]
