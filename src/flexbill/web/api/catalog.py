"""Locations, tax rates, revenue accounts and plans."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy import select

from flexbill.catalog import service
from flexbill.catalog.store import LocationRow, PlanRow, RevenueAccountRow, TaxRateRow
from flexbill.web.api.deps import DB, ReadDB, require_read, require_write
from flexbill.web.api.paging import Cursor, Limit, paginate
from flexbill.web.api.views import (
    LocationOut,
    Page,
    PlanOut,
    RevenueAccountOut,
    TaxRateOut,
    location_out,
    plan_out,
    revenue_account_out,
    tax_rate_out,
)

router = APIRouter()
read = [Depends(require_read)]
write = [Depends(require_write)]


@router.post("/locations", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["catalog"])
def create_location(body: service.NewLocation, db: DB) -> LocationOut:
    return location_out(service.create_location(db, body))


@router.get("/locations", dependencies=read, tags=["catalog"])
def list_locations(db: ReadDB, limit: Limit = 100, cursor: Cursor = None) -> Page[LocationOut]:
    return paginate(db, select(LocationRow), LocationRow.id, limit, cursor, location_out)


@router.get("/locations/{location_id}", dependencies=read, tags=["catalog"])
def get_location(location_id: uuid.UUID, db: ReadDB) -> LocationOut:
    return location_out(service.get_location(db, location_id))


@router.patch("/locations/{location_id}", dependencies=write, tags=["catalog"])
def update_location(location_id: uuid.UUID, body: service.LocationChanges, db: DB) -> LocationOut:
    """Change a location's name or the details its invoices and emails show (address, tax number, payment
    details, sender name, reply-to). Only the fields given change."""
    return location_out(service.update_location(db, location_id, body))


@router.put(
    "/locations/{location_id}/logo",
    dependencies=write,
    tags=["catalog"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in service.LOGO_MEDIA_TYPES},
        }
    },
)
async def set_location_logo(location_id: uuid.UUID, request: Request, db: DB) -> LocationOut:
    """Upload the logo printed on the location's invoices (PNG, JPEG or SVG, at most 512 KB) as the raw
    request body with its Content-Type; an empty body removes it."""
    image = await request.body()
    media_type = request.headers.get("content-type", "")
    return location_out(service.set_location_logo(db, location_id, image, media_type))


@router.post("/tax-rates", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["catalog"])
def create_tax_rate(body: service.NewTaxRate, db: DB) -> TaxRateOut:
    return tax_rate_out(service.create_tax_rate(db, body))


@router.get("/tax-rates", dependencies=read, tags=["catalog"])
def list_tax_rates(db: ReadDB, limit: Limit = 100, cursor: Cursor = None) -> Page[TaxRateOut]:
    return paginate(db, select(TaxRateRow), TaxRateRow.id, limit, cursor, tax_rate_out)


@router.get("/tax-rates/{tax_rate_id}", dependencies=read, tags=["catalog"])
def get_tax_rate(tax_rate_id: uuid.UUID, db: ReadDB) -> TaxRateOut:
    return tax_rate_out(service.get_tax_rate(db, tax_rate_id))


@router.post("/revenue-accounts", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["catalog"])
def create_revenue_account(body: service.NewRevenueAccount, db: DB) -> RevenueAccountOut:
    return revenue_account_out(service.create_revenue_account(db, body))


@router.get("/revenue-accounts", dependencies=read, tags=["catalog"])
def list_revenue_accounts(db: ReadDB, limit: Limit = 100, cursor: Cursor = None) -> Page[RevenueAccountOut]:
    return paginate(db, select(RevenueAccountRow), RevenueAccountRow.id, limit, cursor, revenue_account_out)


@router.get("/revenue-accounts/{account_id}", dependencies=read, tags=["catalog"])
def get_revenue_account(account_id: uuid.UUID, db: ReadDB) -> RevenueAccountOut:
    return revenue_account_out(service.get_revenue_account(db, account_id))


@router.post("/plans", status_code=status.HTTP_201_CREATED, dependencies=write, tags=["catalog"])
def create_plan(body: service.NewPlan, db: DB) -> PlanOut:
    return plan_out(service.create_plan(db, body))


@router.get("/plans", dependencies=read, tags=["catalog"])
def list_plans(db: ReadDB, limit: Limit = 100, cursor: Cursor = None) -> Page[PlanOut]:
    return paginate(db, select(PlanRow), PlanRow.id, limit, cursor, plan_out)


@router.get("/plans/{plan_id}", dependencies=read, tags=["catalog"])
def get_plan(plan_id: uuid.UUID, db: ReadDB) -> PlanOut:
    return plan_out(service.get_plan(db, plan_id))
