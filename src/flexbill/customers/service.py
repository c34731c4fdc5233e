"""Use cases of customers, memberships and one-off fees."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flexbill.accounting import outbox
from flexbill.billing.service import ensure_not_locked, get_billing_rules
from flexbill.billing.store import BilledMembershipPeriodRow
from flexbill.catalog.service import get_location, get_plan, get_revenue_account, get_tax_rate
from flexbill.clock import Clock
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.errors import Conflict, InvalidInput, NotFound
from flexbill.periods import exclusive_end, inclusive_end
from flexbill.validation import (
    Command,
    Country,
    Currency,
    Email,
    Name,
    NonNegativePrice,
    OptionalText,
    Percent,
    Quantity,
)

ShortText = Annotated[str, Field(max_length=50)]
PostalCode = Annotated[str, Field(max_length=20)]


class CustomerFields(Command):
    name: Name
    kind: Literal["company", "individual"] = "company"
    email: Email
    address_line1: OptionalText | None = None
    address_line2: OptionalText | None = None
    city: OptionalText | None = None
    region: OptionalText | None = None
    postal_code: PostalCode | None = None
    country: Country | None = None
    tax_number: ShortText | None = None
    home_location_id: uuid.UUID
    tax_rate_id: uuid.UUID | None = None


class CustomerChanges(Command):
    """A PATCH: only the fields present change; ``null`` clears an optional field."""

    name: Name | None = None
    kind: Literal["company", "individual"] | None = None
    email: Email | None = None
    address_line1: OptionalText | None = None
    address_line2: OptionalText | None = None
    city: OptionalText | None = None
    region: OptionalText | None = None
    postal_code: PostalCode | None = None
    country: Country | None = None
    tax_number: ShortText | None = None
    home_location_id: uuid.UUID | None = None
    tax_rate_id: uuid.UUID | None = None


_REQUIRED_CUSTOMER_FIELDS = ("name", "kind", "email", "home_location_id")


def _check_discount(discount_type: str | None, discount_value: Any) -> None:
    if (discount_type is None) != (discount_value is None):
        raise ValueError("discount_type and discount_value go together: give both or neither")
    if discount_type == "percent" and discount_value is not None and discount_value > 100:
        raise ValueError("a percentage discount cannot exceed 100")


class NewMembership(Command):
    customer_id: uuid.UUID
    plan_id: uuid.UUID
    location_id: uuid.UUID
    start_date: date
    end_date: date | None = None  # inclusive: the last day of membership
    quantity: Quantity = Decimal(1)
    price: NonNegativePrice | None = None
    discount_type: Literal["percent", "amount"] | None = None
    discount_value: Percent | None = Field(default=None, validate_default=True)

    # Field validators rather than one model validator, so that each error names its field.
    @field_validator("end_date")
    @classmethod
    def _ends_after_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start_date")
        if end is not None and start is not None and end < start:
            raise ValueError(f"end_date {end} is before start_date {start}")
        return end

    @field_validator("discount_value")
    @classmethod
    def _discount_complete(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if "discount_type" in info.data:  # a wrong discount_type has its own error already
            _check_discount(info.data["discount_type"], value)
        return value


class MembershipChanges(Command):
    """A PATCH of a membership. A new plan, price, quantity or discount applies from the next period not yet
    invoiced; the customer, location and start date can change only while nothing has been invoiced."""

    customer_id: uuid.UUID | None = None
    plan_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    start_date: date | None = None
    end_date: date | None = None
    quantity: Quantity | None = None
    price: NonNegativePrice | None = None
    discount_type: Literal["percent", "amount"] | None = None
    discount_value: Percent | None = None


class NewFee(Command):
    customer_id: uuid.UUID
    location_id: uuid.UUID
    date: dt.date
    description: Annotated[str, Field(min_length=1, max_length=500)]
    quantity: Quantity = Decimal(1)
    unit_price: NonNegativePrice  # a refund or goodwill is a credit note, never a negative fee
    revenue_account_id: uuid.UUID
    tax_rate_id: uuid.UUID | None = None
    currency: Currency | None = None


# --- customers -------------------------------------------------------------------------------------------------


def create_customer(session: Session, command: CustomerFields) -> CustomerRow:
    get_location(session, command.home_location_id, field="home_location_id")
    if command.tax_rate_id is not None:
        get_tax_rate(session, command.tax_rate_id, field="tax_rate_id")
    row = CustomerRow(**command.model_dump())
    session.add(row)
    session.flush()
    return row


def update_customer(session: Session, clock: Clock, customer_id: uuid.UUID, changes: CustomerChanges) -> CustomerRow:
    """Change a customer's details. Issued invoices keep the details they were made with; the customer's contact in
    the accounting system is brought up to date (by the sync rule)."""
    row = get_customer(session, customer_id)
    values = changes.model_dump(include=changes.model_fields_set)
    for name in _REQUIRED_CUSTOMER_FIELDS:
        if name in values and values[name] is None:
            raise InvalidInput(f"{name} cannot be empty", field=name)
    if values.get("home_location_id") is not None:
        get_location(session, values["home_location_id"], field="home_location_id")
    if values.get("tax_rate_id") is not None:
        get_tax_rate(session, values["tax_rate_id"], field="tax_rate_id")
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    if values.keys() & _CONTACT_FIELDS:
        outbox.contact_changed(session, row.id, clock.now())
    return row


# What the accounting system's contact holds of a customer.
_CONTACT_FIELDS = frozenset(
    {"name", "email", "address_line1", "address_line2", "city", "region", "postal_code", "country", "tax_number"}
)


def get_customer(session: Session, customer_id: uuid.UUID, *, field: str | None = None) -> CustomerRow:
    row = session.get(CustomerRow, customer_id)
    if row is None:
        raise NotFound("customer", customer_id, field=field)
    return row


# --- memberships -----------------------------------------------------------------------------------------------


def create_membership(session: Session, command: NewMembership) -> MembershipRow:
    get_customer(session, command.customer_id, field="customer_id")
    plan = get_plan(session, command.plan_id, field="plan_id")
    location = get_location(session, command.location_id, field="location_id")
    if plan.currency is not None and plan.currency != location.currency:
        raise InvalidInput(
            f"plan {plan.name!r} is priced in {plan.currency} but location {location.code} bills in "
            f"{location.currency}",
            field="plan_id",
        )
    rules = get_billing_rules(session)
    ensure_not_locked(rules, command.start_date, "start_date")
    row = MembershipRow(
        customer_id=command.customer_id,
        plan_id=command.plan_id,
        location_id=command.location_id,
        start_date=command.start_date,
        end_exclusive=exclusive_end(command.end_date),
        quantity=command.quantity,
        price=command.price,
        discount_type=command.discount_type,
        discount_value=command.discount_value,
    )
    session.add(row)
    session.flush()
    return row


def update_membership(session: Session, membership_id: uuid.UUID, changes: MembershipChanges) -> MembershipRow:
    """Change a membership. Periods already invoiced keep their invoices; the change bills from the next run."""
    row = get_membership(session, membership_id)
    values = changes.model_dump(include=changes.model_fields_set)
    rules = get_billing_rules(session)
    for name in ("quantity", "customer_id", "plan_id", "location_id"):
        if name in values and values[name] is None:
            raise InvalidInput(f"{name} cannot be empty", field=name)
    invoiced = (
        session.scalar(
            select(BilledMembershipPeriodRow.membership_id)
            .where(BilledMembershipPeriodRow.membership_id == row.id)
            .limit(1)
        )
        is not None
    )
    for name in ("customer_id", "location_id"):
        if name in values and values[name] != getattr(row, name) and invoiced:
            raise Conflict(
                f"this membership has been invoiced, so its {name.removesuffix('_id')} cannot change; "
                "end it and create a new one",
                field=name,
            )
    if "customer_id" in values:
        get_customer(session, values["customer_id"], field="customer_id")
    plan = get_plan(session, values.get("plan_id", row.plan_id), field="plan_id")
    location = get_location(session, values.get("location_id", row.location_id), field="location_id")
    if plan.currency is not None and plan.currency != location.currency:
        raise InvalidInput(
            f"plan {plan.name!r} is priced in {plan.currency} but location {location.code} bills in "
            f"{location.currency}",
            field="plan_id" if "plan_id" in values else "location_id",
        )
    new_start: date | None = values.get("start_date", row.start_date)
    if new_start is None:
        raise InvalidInput("start_date cannot be empty", field="start_date")
    new_end: date | None = values["end_date"] if "end_date" in values else inclusive_end(row.end_exclusive)
    if new_end is not None and new_end < new_start:
        if "end_date" in values:
            raise InvalidInput(f"end_date {new_end} is before start_date {new_start}", field="end_date")
        raise InvalidInput(f"start_date {new_start} is after the membership's end date {new_end}", field="start_date")
    if new_start != row.start_date:
        if invoiced:
            raise Conflict(
                "this membership has been invoiced, so its start date cannot change; end it and create a new one",
                field="start_date",
            )
        ensure_not_locked(rules, new_start, "start_date")
    if "end_date" in values and new_end is not None:
        ensure_not_locked(rules, new_end, "end_date")
    row.start_date, row.end_exclusive = new_start, exclusive_end(new_end)
    discount_type = values.get("discount_type", row.discount_type)
    discount_value = values.get("discount_value", row.discount_value)
    try:
        _check_discount(discount_type, discount_value)
    except ValueError as error:
        raise InvalidInput(str(error), field="discount_value") from None
    row.discount_type, row.discount_value = discount_type, discount_value
    row.customer_id, row.plan_id, row.location_id = values.get("customer_id", row.customer_id), plan.id, location.id
    if "quantity" in values:
        row.quantity = values["quantity"]
    if "price" in values:
        row.price = values["price"]
    session.flush()
    return row


def billed_until(session: Session, membership_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, date | None]:
    """The last day invoiced so far of each membership that has been invoiced (shortening a membership below it
    leaves those days invoiced: a credit note gives them back)."""
    if not membership_ids:
        return {}
    b = BilledMembershipPeriodRow
    query = select(b.membership_id, func.max(b.period_end)).where(b.membership_id.in_(membership_ids))
    return {
        membership_id: inclusive_end(end) for membership_id, end in session.execute(query.group_by(b.membership_id))
    }


def get_membership(session: Session, membership_id: uuid.UUID) -> MembershipRow:
    row = session.get(MembershipRow, membership_id)
    if row is None:
        raise NotFound("membership", membership_id)
    return row


# --- fees ------------------------------------------------------------------------------------------------------


def create_fee(session: Session, command: NewFee) -> FeeRow:
    get_customer(session, command.customer_id, field="customer_id")
    location = get_location(session, command.location_id, field="location_id")
    if command.currency is not None and command.currency != location.currency:
        raise InvalidInput(
            f"the fee is in {command.currency} but location {location.code} bills in {location.currency}",
            field="currency",
        )
    get_revenue_account(session, command.revenue_account_id, field="revenue_account_id")
    if command.tax_rate_id is not None:
        get_tax_rate(session, command.tax_rate_id, field="tax_rate_id")
    ensure_not_locked(get_billing_rules(session), command.date, "date")
    row = FeeRow(**command.model_dump(exclude={"currency"}))
    session.add(row)
    session.flush()
    return row


def get_fee(session: Session, fee_id: uuid.UUID) -> FeeRow:
    row = session.get(FeeRow, fee_id)
    if row is None:
        raise NotFound("fee", fee_id)
    return row
