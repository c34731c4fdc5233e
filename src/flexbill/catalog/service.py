"""Use cases of the catalog: locations, tax rates, revenue accounts, plans."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from pydantic import Field, StringConstraints, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxComponentRow, TaxRateRow
from flexbill.errors import Conflict, InvalidInput, NotFound
from flexbill.invoicing.model import TaxComponent, TaxRate, validate_number_template
from flexbill.invoicing.store import create_number_sequences
from flexbill.validation import Code, Command, Currency, Email, Name, NonNegativePrice, Percent, TimeZone

LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
LOGO_MEDIA_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
LOGO_MAX_BYTES = 512 * 1024


def _template(value: str) -> str:
    validate_number_template(value)
    return value


class LocationDetails(Command):
    """What a location's invoices and emails say of the operator: its legal name, address, contact details,
    tax number, how to pay by bank transfer, and the sender name and reply-to address of its emails."""

    legal_name: Name | None = None
    address: LongText = ""
    email: Email | None = None
    phone: ShortText | None = None
    tax_number: ShortText | None = None
    payment_details: LongText = ""
    email_sender_name: Name | None = None
    email_reply_to: Email | None = None


class NewLocation(LocationDetails):
    name: Name
    code: Code
    currency: Currency
    timezone: TimeZone = "UTC"
    prices_include_tax: bool = False
    invoice_number_template: Annotated[str, Field(max_length=60)] = "INV-{number:05}"
    credit_note_number_template: Annotated[str, Field(max_length=60)] = "CN-{number:05}"

    _check_invoice_template = field_validator("invoice_number_template")(_template)
    _check_credit_template = field_validator("credit_note_number_template")(_template)


class LocationChanges(LocationDetails):
    """A partial update: only the fields given change (``null`` clears an optional one)."""

    name: Name | None = None


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


def update_location(session: Session, location_id: uuid.UUID, changes: LocationChanges) -> LocationRow:
    row = get_location(session, location_id)
    given = changes.model_dump(exclude_unset=True)
    if given.get("name", "") is None:
        raise InvalidInput("a location must have a name", field="name")
    for field, value in given.items():
        setattr(row, field, value)
    session.flush()
    return row


def set_location_logo(session: Session, location_id: uuid.UUID, image: bytes, media_type: str) -> LocationRow:
    """The logo printed on the location's invoices: a PNG, JPEG or SVG of at most 512 KB; empty removes it."""
    row = get_location(session, location_id)
    if not image:
        row.logo, row.logo_media_type = None, None
        session.flush()
        return row
    media_type = media_type.split(";")[0].strip().lower()
    if media_type not in LOGO_MEDIA_TYPES:
        raise InvalidInput(f"a logo must be one of {', '.join(LOGO_MEDIA_TYPES)}, not {media_type or 'untyped'}")
    if len(image) > LOGO_MAX_BYTES:
        raise InvalidInput(f"the logo is {len(image) // 1024} KB; at most {LOGO_MAX_BYTES // 1024} KB is accepted")
    if not _looks_like(image, media_type):
        raise InvalidInput(f"the uploaded file is not a {media_type} image")
    row.logo, row.logo_media_type = image, media_type
    session.flush()
    return row


def _looks_like(image: bytes, media_type: str) -> bool:
    if media_type == "image/png":
        return image.startswith(b"\x89PNG\r\n\x1a\n")
    if media_type == "image/jpeg":
        return image.startswith(b"\xff\xd8\xff")
    head = image[:1024].lstrip().lower()
    return head.startswith((b"<svg", b"<?xml")) and b"<svg" in image[:4096].lower()


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
