"""The sample coworking space of ``flexbill demo``: two locations in two currencies, a few dozen customers with
memberships and fees, and one bill run. Deterministic: the same day gives the same space."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexbill.billing.service import BillingRulesChanges, BillRunResult, run_bill_run, update_billing_rules
from flexbill.bootstrap import Context
from flexbill.catalog import service as catalog
from flexbill.clock import Clock
from flexbill.customers import service as customers
from flexbill.invoicing.service import NewPayment, record_payment
from flexbill.money import round_money
from flexbill.payments.store import PaymentMethodRow
from flexbill.periods import add_months, grid_date_on_or_before

COMPANIES = (
    "Northwind Studio", "Blue Fern Design", "Kestrel Analytics", "Harbour & Vine", "Quill Legal", "Tandem Robotics",
    "Orchard Health", "Lumen Audio", "Copperleaf Ventures", "Mosaic Translation", "Pinecone Games", "Riverside Tax",
)  # fmt: skip
PEOPLE = (
    "Amara Okafor", "Ben Hartley", "Chloé Martin", "Dev Patel", "Elif Yilmaz", "Felix Braun", "Grace Liu",
    "Hugo Silva", "Ines Costa", "Jonas Weber", "Kaito Sato", "Lena Fischer", "Marco Rossi", "Nadia Haddad",
    "Oskar Lind", "Priya Nair", "Quentin Roux", "Rosa Jiménez", "Sam O'Neill", "Tariq Aziz", "Ursula Meyer",
    "Viktor Novak", "Wen Zhao", "Yara Haddad",
)  # fmt: skip


@dataclass(frozen=True)
class DemoSpace:
    billing_day: date
    customers: int
    memberships: int
    fees: int
    bill_run: BillRunResult


def _slug(name: str) -> str:
    """An email-safe version of a name: ``Harbour & Vine`` -> ``harbour.vine``."""
    words = "".join(ch if ch.isalnum() else " " for ch in name.lower()).split()
    return ".".join(words)


HISTORY_MONTHS = 3  # billed, and mostly paid, before the latest run


def build_demo_space(
    factory: sessionmaker[Session],
    clock: Clock,
    seed: int = 7,
    *,
    before_billing: Callable[[], object] | None = None,
    on_due_date: Callable[[date], object] | None = None,
) -> DemoSpace:
    """Create the sample space in an empty database with a few months of history: the bill runs of the last
    billing days, most of them paid; then memberships entered late (caught up by the latest run), and the run of
    the latest billing day, partly paid. ``before_billing`` runs once the catalog and customers exist (the demo
    connects its locations to the accounting sandbox and saves members' cards there, so the whole history is
    synced and charged); ``on_due_date`` runs on each past due date of the history (the demo charges the cards
    there). Members with a saved card are left to it; the others pay by bank transfer."""
    rng = random.Random(seed)
    today = clock.today()
    run_date = grid_date_on_or_before(today, 1)
    history = [add_months(run_date, -months) for months in range(HISTORY_MONTHS, 0, -1)]
    counts = {"customers": 0, "memberships": 0, "fees": 0}
    due_days = 14
    late: list[customers.NewMembership] = []
    with factory() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(billing_day=1, due_days=due_days))
        for spec in _LOCATIONS:
            late += _build_location(db, rng, spec, run_date, counts)
    if before_billing is not None:
        before_billing()
    for billing_day in history:
        _pay_some(factory, clock, rng, run_bill_run(factory, clock, billing_day), today, share_paid=0.95)
        if on_due_date is not None and billing_day + timedelta(days=due_days) <= today:
            on_due_date(billing_day + timedelta(days=due_days))
    with factory() as db, db.begin():
        for command in late:
            customers.create_membership(db, command)
    result = run_bill_run(factory, clock, run_date)
    _pay_some(factory, clock, rng, result, today, share_paid=0.6)
    if on_due_date is not None and run_date + timedelta(days=due_days) <= today:
        on_due_date(run_date + timedelta(days=due_days))
    return DemoSpace(run_date, counts["customers"], counts["memberships"], counts["fees"], result)


def _pay_some(
    factory: sessionmaker[Session],
    clock: Clock,
    rng: random.Random,
    run: BillRunResult,
    today: date,
    share_paid: float,
) -> None:
    """Members paid by bank transfer after the bill run: ``share_paid`` of them in full, a few in part; the rest
    are overdue or not yet due. Members with a saved card are charged on the due date instead."""
    with factory() as db, db.begin():
        by_card = set(db.scalars(select(PaymentMethodRow.customer_id).where(PaymentMethodRow.is_default.is_(True))))
        for invoice_id, planned in zip(run.invoice_ids, run.invoices, strict=True):
            luck = rng.random()
            if luck > share_paid + 0.1 or planned.total <= 0 or planned.customer_id in by_card:
                continue
            amount = planned.total if luck < share_paid else round_money(planned.total / 2, planned.currency)
            paid_on = min(today, planned.issue_date + timedelta(days=rng.randint(1, 20)))
            record_payment(
                db, clock, invoice_id, NewPayment(date=paid_on, amount=amount, method="bank_transfer", reference="Demo")
            )


@dataclass(frozen=True)
class _LocationSpec:
    name: str
    code: str
    currency: str
    timezone: str
    inclusive: bool
    tax_name: str
    tax_code: str
    tax_rate: str
    plans: tuple[tuple[str, str, int], ...]  # name, price, interval in months
    fees: tuple[tuple[str, str], ...]  # description, unit price
    people: slice
    companies: slice
    country: str
    city: str
    legal_name: str
    address: str
    tax_number: str
    payment_details: str


_LOCATIONS = (
    _LocationSpec(
        name="London Bridge", code="LON", currency="GBP", timezone="Europe/London", inclusive=False,
        tax_name="VAT 20%", tax_code="GB-VAT20", tax_rate="20",
        plans=(("Hot desk", "250.00", 1), ("Dedicated desk", "400.00", 1), ("Private office (4 desks)", "5400.00", 3)),
        fees=(("Meeting room, per hour", "35.00"), ("Day pass", "25.00"), ("Printing, per page", "0.10")),
        people=slice(0, 12), companies=slice(0, 6), country="GB", city="London",
        legal_name="London Bridge Workspace Ltd", address="12 Tooley Street\nLondon SE1 2TU\nUnited Kingdom",
        tax_number="GB 123 4567 89",
        payment_details="Bank transfer to London Bridge Workspace Ltd\nSort code 20-00-00, account 55779911\n"
        "Please quote the invoice number.",
    ),
    _LocationSpec(
        name="Berlin Mitte", code="BER", currency="EUR", timezone="Europe/Berlin", inclusive=True,
        tax_name="USt 19%", tax_code="DE-UST19", tax_rate="19",
        plans=(("Flex desk", "199.00", 1), ("Fixed desk", "329.00", 1), ("Team office (6 desks)", "1490.00", 1)),
        fees=(("Besprechungsraum, pro Stunde", "29.00"), ("Tagespass", "19.00"), ("Locker", "15.00")),
        people=slice(12, 24), companies=slice(6, 12), country="DE", city="Berlin",
        legal_name="Mitte Coworking GmbH", address="Rosenthaler Straße 40\n10178 Berlin\nDeutschland",
        tax_number="DE 312 456 789",
        payment_details="Überweisung an Mitte Coworking GmbH\nIBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX\n"
        "Bitte geben Sie die Rechnungsnummer an.",
    ),
)  # fmt: skip
DEMO_LOCATIONS = tuple(spec.code for spec in _LOCATIONS)


def _build_location(
    db: Session, rng: random.Random, spec: _LocationSpec, run_date: date, counts: dict[str, int]
) -> list[customers.NewMembership]:
    """The location, its catalog, customers, memberships and fees; returns the memberships to enter late."""
    location = catalog.create_location(
        db,
        catalog.NewLocation(
            name=spec.name, code=spec.code, currency=spec.currency, timezone=spec.timezone,
            prices_include_tax=spec.inclusive, invoice_number_template=f"{spec.code}-{{year}}-{{number:04}}",
            credit_note_number_template=f"{spec.code}-CN-{{number:04}}",
            legal_name=spec.legal_name, address=spec.address, email=f"billing@{spec.code.lower()}.flexbill.example",
            tax_number=spec.tax_number, payment_details=spec.payment_details,
        ),
    )  # fmt: skip
    tax = catalog.create_tax_rate(
        db,
        catalog.NewTaxRate(
            name=spec.tax_name, code=spec.tax_code,
            components=[catalog.NewTaxComponent(name=spec.tax_name.split()[0], rate=Decimal(spec.tax_rate))],
        ),
    )  # fmt: skip
    memberships_account = catalog.create_revenue_account(
        db, catalog.NewRevenueAccount(name=f"Membership fees {spec.code}", code=f"200-{spec.code}", tax_rate_id=tax.id)
    )
    fees_account = catalog.create_revenue_account(
        db, catalog.NewRevenueAccount(name=f"One-off fees {spec.code}", code=f"210-{spec.code}", tax_rate_id=tax.id)
    )
    plans = [
        catalog.create_plan(
            db,
            catalog.NewPlan(
                name=name,
                price=Decimal(price),
                revenue_account_id=memberships_account.id,
                interval_months=interval,
                currency=spec.currency,
            ),
        )
        for name, price, interval in spec.plans
    ]
    late: list[customers.NewMembership] = []
    names = [(n, "individual") for n in PEOPLE[spec.people]] + [(n, "company") for n in COMPANIES[spec.companies]]
    for index, (name, kind) in enumerate(names):
        customer = customers.create_customer(
            db,
            customers.CustomerFields(
                name=name, kind=kind,
                email=f"billing@{_slug(name)}.example" if kind == "company" else f"{_slug(name)}@example.com",
                address_line1=f"{rng.randint(1, 180)} {rng.choice(['High Street', 'Market Lane', 'Hauptstraße'])}",
                city=spec.city, postal_code=f"{rng.randint(10000, 99999)}", country=spec.country,
                tax_number=f"{spec.country}{rng.randint(100000000, 999999999)}" if kind == "company" else None,
                home_location_id=location.id,
            ),
        )  # fmt: skip
        counts["customers"] += 1
        plan = plans[2] if kind == "company" and index % 2 == 0 else plans[index % 2]
        # Most started months ago, some mid-month (prorated); a few start next month, a few end soon.
        months_back = rng.choice([-1, 0, 1, 2, 3, 4, 6])
        start = add_months(run_date, -months_back) + timedelta(days=rng.choice([0, 0, 0, 9, 16]))
        end = None
        if index % 7 == 3:
            end = max(start, add_months(run_date, 1)) + timedelta(days=rng.randint(3, 20))
        membership = customers.NewMembership(
            customer_id=customer.id, plan_id=plan.id, location_id=location.id, start_date=start, end_date=end,
            quantity=Decimal(1 if kind == "individual" else rng.choice([1, 2])),
            discount_type="percent" if index % 5 == 0 else None,
            discount_value=Decimal(10) if index % 5 == 0 else None,
        )  # fmt: skip
        if index % 8 == 5 and months_back >= 1:
            late.append(membership)  # entered after earlier runs, with a past start: the latest run catches up
        else:
            customers.create_membership(db, membership)
        counts["memberships"] += 1
        for _ in range(rng.randint(1, 5)):
            description, unit_price = rng.choice(spec.fees)
            fee_date = add_months(run_date, -rng.randint(1, HISTORY_MONTHS + 1)) + timedelta(days=rng.randint(0, 27))
            quantity = Decimal(rng.choice([1, 2, 3, 120])) if "page" in description else Decimal(rng.randint(1, 4))
            customers.create_fee(
                db,
                customers.NewFee(
                    customer_id=customer.id, location_id=location.id, date=fee_date, description=description,
                    quantity=quantity, unit_price=Decimal(unit_price), revenue_account_id=fees_account.id,
                ),
            )  # fmt: skip
            counts["fees"] += 1
    return late


# The demo organisation of the Xero sandbox, and how the sample catalog maps onto it.
DEMO_XERO_MAPPINGS: dict[str, object] = {
    "accounts": {"200-LON": "200", "210-LON": "260", "200-BER": "200", "210-BER": "260"},
    "tax_rates": {"GB-VAT20": "OUTPUT2", "DE-UST19": "TAX001"},
    "payment_account": "090",
    "tracking": {
        "LON": {"category": "Location", "option": "London"},
        "BER": {"category": "Location", "option": "Berlin"},
    },
}
# The demo company of the QuickBooks sandbox: its products and services "Memberships" (2) and "Meeting rooms and
# extras" (3), its VAT codes "20.0% S" (2) and "19.0% DE" (7), its bank account (35) and its locations.
DEMO_QUICKBOOKS_MAPPINGS: dict[str, object] = {
    "accounts": {"200-LON": "2", "210-LON": "3", "200-BER": "2", "210-BER": "3"},
    "tax_rates": {"GB-VAT20": "2", "DE-UST19": "7"},
    "payment_account": "35",
    "tracking": {
        "LON": {"category": "Location", "option": "London"},
        "BER": {"category": "Location", "option": "Berlin"},
    },
}
DEMO_MAPPINGS = {"xero": DEMO_XERO_MAPPINGS, "quickbooks": DEMO_QUICKBOOKS_MAPPINGS}


def connect_demo_books(
    ctx: Context, books: dict[str, tuple[str, list[str]]], redirect_uri: str
) -> dict[str, uuid.UUID]:
    """Connect the sample locations to the accounting sandboxes as an operator would: ``books`` names, per
    provider, the sandbox's root and the codes of the locations whose books it keeps. Each consent is given at once
    by the sandbox, the code traded for tokens and the company's codes mapped; then accounting sync is turned on
    (auto), with the PDFs fetched for sending. Locations sharing a company share one connection. Returns the
    connection of each provider."""
    import httpx

    from flexbill.accounting import service as accounting
    from flexbill.catalog.store import LocationRow

    with ctx.readers() as db:
        location_ids = {row.code: row.id for row in db.scalars(select(LocationRow))}
    connections: dict[str, uuid.UUID] = {}
    for provider, (base_url, codes) in books.items():
        for code in codes:
            with ctx.sessions() as db, db.begin():
                command = accounting.NewConnection.model_validate(
                    {"location_id": location_ids[code], "provider": provider, "base_url": base_url}
                )
                _, authorize_url = accounting.create_connection(db, ctx.settings, command, redirect_uri)
            consent = httpx.get(authorize_url, follow_redirects=False, timeout=30)
            answer = httpx.URL(consent.headers["location"]).params
            connections[provider] = accounting.complete_authorization(
                ctx, answer["state"], answer["code"], dict(answer)
            ).id
        mappings = accounting.Mappings.model_validate(DEMO_MAPPINGS[provider])
        accounting.set_mappings(ctx, connections[provider], mappings)
    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(accounting_sync="auto", auto_send=True))
    return connections


# Which test card each sample member saved, by their place in the list: most cards work, a few are declined or
# need 3-D Secure (the member gets a link to pay), and every fourth member pays by bank transfer.
def _demo_card(index: int) -> str | None:
    if index % 4 == 3:
        return None
    if index % 9 == 4:
        return "pm_card_chargeDeclinedInsufficientFunds"
    if index % 11 == 6:
        return "pm_card_authenticationRequired"
    return "pm_card_visa"


def connect_demo_to_stripe(ctx: Context, stripe_url: str, webhook_url: str) -> int:
    """Give each sample location its own account in the Stripe sandbox at ``stripe_url``, with a webhook endpoint
    pointing at ``webhook_url``; save a test card for most members; turn automatic charging on. Returns how many
    cards were saved."""
    import time

    import stripe

    from flexbill.catalog.store import LocationRow
    from flexbill.customers.store import CustomerRow
    from flexbill.payments import service as payments
    from flexbill.payments.ports import Unavailable

    saved = 0
    with ctx.sessions() as db, db.begin():
        locations = [(row.id, row.code) for row in db.scalars(select(LocationRow).order_by(LocationRow.code))]
    for location_id, code in locations:
        secret_key = f"sk_test_demo_{code.lower()}"
        client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": stripe_url},
            http_client=stripe.HTTPXClient(allow_sync_methods=True),
            max_network_retries=0,
        )
        endpoint = client.v1.webhook_endpoints.create(params={"url": webhook_url, "enabled_events": ["*"]})
        with ctx.sessions() as db, db.begin():
            payments.create_gateway(
                db,
                ctx.settings,
                ctx.clock.now(),
                payments.NewGateway(
                    location_id=location_id, secret_key=secret_key, webhook_secret=str(endpoint.secret),
                    base_url=stripe_url,
                ),
            )  # fmt: skip
            members = list(
                db.scalars(
                    select(CustomerRow.id).where(CustomerRow.home_location_id == location_id).order_by(CustomerRow.name)
                )
            )
        for index, customer_id in enumerate(members):
            card = _demo_card(index)
            if card is None:
                continue
            for _ in range(10):  # the sandbox keeps Stripe's rate limit (25 calls a second in test mode)
                try:
                    payments.add_payment_method(ctx, customer_id, payments.NewPaymentMethod(payment_method=card))
                    break
                except Unavailable as error:
                    time.sleep(error.retry_after or 1.0)
            saved += 1
    with ctx.sessions() as db, db.begin():
        update_billing_rules(db, BillingRulesChanges(auto_charge=True))
    return saved
