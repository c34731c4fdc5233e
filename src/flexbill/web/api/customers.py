"""Customers, memberships and one-off fees."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexbill.accounting.model import RecordKind
from flexbill.customers import service
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.web.api.accounting import with_accounting
from flexbill.web.api.deps import DB, Now, ReadDB, require_read, require_write
from flexbill.web.api.paging import Cursor, Limit, paginate
from flexbill.web.api.views import (
    CustomerOut,
    FeeOut,
    MembershipOut,
    Page,
    customer_out,
    fee_out,
    membership_out,
)

router = APIRouter()
read = [Depends(require_read)]
write = [Depends(require_write)]


@router.post("/customers", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["customers"])
def create_customer(body: service.CustomerFields, db: DB) -> CustomerOut:
    return customer_out(service.create_customer(db, body))


@router.get("/customers", dependencies=read, tags=["customers"])
def list_customers(
    db: ReadDB,
    limit: Limit = 100,
    cursor: Cursor = None,
    q: str | None = Query(None, description="Part of the name or email, any case."),
    home_location_id: uuid.UUID | None = None,
) -> Page[CustomerOut]:
    query = select(CustomerRow)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(CustomerRow.name.ilike(pattern) | CustomerRow.email.ilike(pattern))
    if home_location_id:
        query = query.where(CustomerRow.home_location_id == home_location_id)
    return paginate(
        db,
        query,
        CustomerRow.id,
        limit,
        cursor,
        convert_page=lambda rows: with_accounting(db, RecordKind.CUSTOMER, [customer_out(row) for row in rows]),
    )


@router.get("/customers/{customer_id}", dependencies=read, tags=["customers"])
def get_customer(customer_id: uuid.UUID, db: ReadDB) -> CustomerOut:
    return with_accounting(db, RecordKind.CUSTOMER, [customer_out(service.get_customer(db, customer_id))])[0]


@router.patch("/customers/{customer_id}", dependencies=write, tags=["customers"])
def update_customer(customer_id: uuid.UUID, body: service.CustomerChanges, db: DB, clock: Now) -> CustomerOut:
    customer = customer_out(service.update_customer(db, clock, customer_id, body))
    return with_accounting(db, RecordKind.CUSTOMER, [customer])[0]


@router.post("/memberships", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["customers"])
def create_membership(body: service.NewMembership, db: DB) -> MembershipOut:
    return membership_out(service.create_membership(db, body))


@router.get("/memberships", dependencies=read, tags=["customers"])
def list_memberships(
    db: ReadDB,
    limit: Limit = 100,
    cursor: Cursor = None,
    customer_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> Page[MembershipOut]:
    query = select(MembershipRow)
    if customer_id:
        query = query.where(MembershipRow.customer_id == customer_id)
    if location_id:
        query = query.where(MembershipRow.location_id == location_id)

    def convert_page(rows: Sequence[MembershipRow]) -> list[MembershipOut]:
        until = service.billed_until(db, [row.id for row in rows])
        return [membership_out(row, until.get(row.id)) for row in rows]

    return paginate(db, query, MembershipRow.id, limit, cursor, convert_page=convert_page)


@router.get("/memberships/{membership_id}", dependencies=read, tags=["customers"])
def get_membership(membership_id: uuid.UUID, db: ReadDB) -> MembershipOut:
    return _membership_out(db, service.get_membership(db, membership_id))


@router.patch("/memberships/{membership_id}", dependencies=write, tags=["customers"])
def update_membership(membership_id: uuid.UUID, body: service.MembershipChanges, db: DB) -> MembershipOut:
    return _membership_out(db, service.update_membership(db, membership_id, body))


def _membership_out(db: Session, row: MembershipRow) -> MembershipOut:
    return membership_out(row, service.billed_until(db, [row.id]).get(row.id))


@router.post("/fees", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["customers"])
def create_fee(body: service.NewFee, db: DB) -> FeeOut:
    return fee_out(service.create_fee(db, body))


@router.get("/fees", dependencies=read, tags=["customers"])
def list_fees(
    db: ReadDB,
    limit: Limit = 100,
    cursor: Cursor = None,
    customer_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> Page[FeeOut]:
    query = select(FeeRow)
    if customer_id:
        query = query.where(FeeRow.customer_id == customer_id)
    if location_id:
        query = query.where(FeeRow.location_id == location_id)
    return paginate(db, query, FeeRow.id, limit, cursor, fee_out)


@router.get("/fees/{fee_id}", dependencies=read, tags=["customers"])
def get_fee(fee_id: uuid.UUID, db: ReadDB) -> FeeOut:
    return fee_out(service.get_fee(db, fee_id))
