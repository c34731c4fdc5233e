"""Use cases of the catalog: locations, tax rates, revenue accounts, plans."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxComponentRow, TaxRateRow
from flexbill.errors import Conflict, NotFound
from flexbill.invoicing.model import TaxComponent, TaxRate, validate_number_template
from flexbill.invoicing.store import create_number_sequences
from flexbill.validation import Code, Command, Currency, Name, NonNegativePrice, Percent, TimeZone


def _template(value: str) -> str:
    validate_number_template(value)
    return value


class NewLocation(Command):
    name: Name
    code: Code
    currency: Currency
    timezone: TimeZone = "UTC"
    prices_include_tax: bool = False
    invoice_number_template: Annotated[str, Field(max_length=60)] = "INV-{number:05}"
    credit_note_number_template: Annotated[str, Field(max_length=60)] = "CN-{number:05}"

    _check_invoice_template = field_validator("invoice_number_template")(_template)
    _check_credit_template = field_validator("credit_note_number_template")(_template)


class NewTaxComponent(Command):
    name: Name
    rate: Annotated[Percent, Field(le=100)]


class NewTaxRate(Command):
    name: Name
    code: Code
    components: Annotated[list[NewTaxComponent], Field(min_length=1, max_length=5)]


class NewRevenueAccount(Command):
    name: Name
    code: Code
    tax_rate_id: uuid.UUID


class NewPlan(Command):
    name: Name
    price: NonNegativePrice
    revenue_account_id: uuid.UUID
    proration: Literal["first_invoice", "second_invoice", "none"] = "first_invoice"
    interval_months: Annotated[int, Field(ge=1, le=36)] = 1
    currency: Currency | None = None


def create_location(session: Session, command: NewLocation) -> LocationRow:
    _ensure_code_free(session, LocationRow, command.code, "location")
    row = LocationRow(**command.model_dump())
    session.add(row)
    session.flush()
    create_number_sequences(session, row.id)
    return row


def create_tax_rate(session: Session, command: NewTaxRate) -> TaxRateRow:
    _ensure_code_free(session, TaxRateRow, command.code, "tax rate")
    row = TaxRateRow(
        name=command.name,
        code=command.code,
        components=[TaxComponentRow(position=i, name=c.name, rate=c.rate) for i, c in enumerate(command.components)],
    )
    session.add(row)
    session.flush()
    return row


def create_revenue_account(session: Session, command: NewRevenueAccount) -> RevenueAccountRow:
    _ensure_code_free(session, RevenueAccountRow, command.code, "revenue account")
    get_tax_rate(session, command.tax_rate_id, field="tax_rate_id")
    row = RevenueAccountRow(**command.model_dump())
    session.add(row)
    session.flush()
    return row


def create_plan(session: Session, command: NewPlan) -> PlanRow:
    get_revenue_account(session, command.revenue_account_id, field="revenue_account_id")
    row = PlanRow(**command.model_dump())
    session.add(row)
    session.flush()
    return row


def get_location(session: Session, location_id: uuid.UUID, *, field: str | None = None) -> LocationRow:
    return _get(session, LocationRow, location_id, "location", field)


def get_location_by_code(session: Session, code: str, *, field: str | None = None) -> LocationRow:
    row = session.scalar(select(LocationRow).where(LocationRow.code == code))
    if row is None:
        raise NotFound("location with code", code, field=field)
    return row


def get_tax_rate(session: Session, tax_rate_id: uuid.UUID, *, field: str | None = None) -> TaxRateRow:
    return _get(session, TaxRateRow, tax_rate_id, "tax rate", field)


def get_revenue_account(session: Session, account_id: uuid.UUID, *, field: str | None = None) -> RevenueAccountRow:
    return _get(session, RevenueAccountRow, account_id, "revenue account", field)


def get_plan(session: Session, plan_id: uuid.UUID, *, field: str | None = None) -> PlanRow:
    return _get(session, PlanRow, plan_id, "plan", field)


def tax_rate_terms(row: TaxRateRow) -> TaxRate:
    """The pure value the billing rules compute with."""
    return TaxRate(
        id=row.id,
        code=row.code,
        name=row.name,
        components=tuple(TaxComponent(c.name, Decimal(c.rate)) for c in row.components),
    )


RowT = TypeVar("RowT", LocationRow, TaxRateRow, RevenueAccountRow, PlanRow)


def _get(session: Session, model: type[RowT], row_id: uuid.UUID, label: str, field: str | None) -> RowT:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(label, row_id, field=field)
    return row


def _ensure_code_free(
    session: Session,
    model: type[LocationRow] | type[TaxRateRow] | type[RevenueAccountRow],
    code: str,
    label: str,
) -> None:
    # A friendly early answer; the unique constraint stays the guarantee (a race ends as a 409 too).
    if session.scalar(select(model.id).where(model.code == code)) is not None:
        raise Conflict(f"a {label} with code {code!r} already exists", field="code")
