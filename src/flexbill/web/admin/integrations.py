"""The accounting connections: connect (the accounting system's consent page, then back to flexbill), reconnect,
choose the organisation and the locations it keeps the books of, see how the connection is doing, and match our
revenue accounts, tax rates, payment account and locations to the organisation's own lists.

Each action is the JSON API's use case (``flexbill.accounting.service``); the organisation's lists are read from it
while the page is made, as the API's ``remote`` endpoints read them.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from flexbill.access.model import Permission
from flexbill.accounting import service as accounting
from flexbill.accounting.model import RemoteAccount, RemoteTaxRate, RemoteTrackingCategory, SyncStatus
from flexbill.accounting.registry import connectors
from flexbill.accounting.store import AccountingConnectionRow, SyncRecordRow
from flexbill.catalog.store import LocationRow, RevenueAccountRow, TaxRateRow
from flexbill.errors import FlexbillError, InvalidInput
from flexbill.web.admin.settings_support import base_context, form_error
from flexbill.web.api.accounting import _callback_url as callback_url  # the API's own rule for the return address
from flexbill.web.forms import parse_form
from flexbill.web.security import check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()

STATUS_WORDS = {
    "authorizing": ("warn", "Waiting for consent", "Consent was not given yet: connect again to finish."),
    "choose_tenant": ("warn", "Choose the organisation", "The consent covers several organisations: choose one."),
    "connected": ("good", "Connected", "Authorized; flexbill renews its access by itself."),
    "reconnect_needed": (
        "bad",
        "Reconnect needed",
        "The accounting system refused flexbill's access: reconnect. Work waits until then; nothing is lost.",
    ),
}
CONNECT_LABELS = {"location_id": "Location", "provider": "Accounting system", "base_url": "Address"}
CHANGE_LABELS = {"tenant_id": "Organisation", "location_ids": "Locations", "numbering": "Invoice numbers"}
# The sandbox `flexbill demo` runs beside the console (its port plus one).
DEMO_SANDBOX_PORT_OFFSET = 1


def _has_credentials(request: Request, provider: str) -> bool:
    settings = context_of(request).settings
    return bool(
        getattr(settings, f"{provider}_client_id", None) and getattr(settings, f"{provider}_client_secret", None)
    )


def _suggested_base_url(request: Request, db: Session, provider: str) -> str:
    """Where a new connection goes: the accounting system itself when flexbill has the app's credentials;
    otherwise a local sandbox of that system, the one its other connections use or else the demo's (flexbill's
    sandboxes serve each system under its own name)."""
    if _has_credentials(request, provider):
        return ""
    used = db.scalar(
        select(AccountingConnectionRow.base_url).where(
            AccountingConnectionRow.base_url.is_not(None), AccountingConnectionRow.provider == provider
        )
    )
    settings = context_of(request).settings
    return used or f"http://{settings.host}:{settings.port + DEMO_SANDBOX_PORT_OFFSET}/{provider}"


def _health(db: Session, row: AccountingConnectionRow) -> dict[str, Any]:
    """How the connection is doing: its state, when it last synced, what waits and what failed."""
    counts = dict(
        db.execute(
            select(SyncRecordRow.status, func.count())
            .where(SyncRecordRow.connection_id == row.id)
            .group_by(SyncRecordRow.status)
        ).all()
    )
    failures = db.execute(
        select(SyncRecordRow.kind, SyncRecordRow.error, SyncRecordRow.updated_at)
        .where(SyncRecordRow.connection_id == row.id, SyncRecordRow.status == SyncStatus.FAILED.value)
        .order_by(SyncRecordRow.updated_at.desc())
        .limit(5)
    ).all()
    tone, title, about = STATUS_WORDS.get(row.status, ("warn", row.status, ""))
    return {
        "tone": tone,
        "title": title,
        "about": about,
        "last_sync": db.scalar(select(func.max(SyncRecordRow.synced_at)).where(SyncRecordRow.connection_id == row.id)),
        "synced": counts.get(SyncStatus.SYNCED.value, 0),
        "waiting": counts.get(SyncStatus.PENDING.value, 0) + counts.get(SyncStatus.OUT_OF_DATE.value, 0),
        "failed": counts.get(SyncStatus.FAILED.value, 0),
        "failures": [{"kind": kind, "error": error, "at": at} for kind, error, at in failures],
        "token_until": row.access_expires_at,
    }


def _connection_view(db: Session, row: AccountingConnectionRow, locations: dict[uuid.UUID, LocationRow]) -> Any:
    location_ids = accounting.connection_location_ids(db, row.id)
    provider = connectors().get(row.provider)
    return {
        "row": row,
        "provider": provider.display_name if provider else row.provider,
        "locations": [locations[i] for i in location_ids if i in locations],
        "location_ids": [str(i) for i in location_ids],
        "health": _health(db, row),
    }


def _locations(db: Session) -> dict[uuid.UUID, LocationRow]:
    return {row.id: row for row in db.scalars(select(LocationRow).order_by(LocationRow.name))}


# --- the list, and connecting -------------------------------------------------------------------------------------


def _integrations_page(
    request: Request, extra: dict[str, Any], status: int = 200, *, provider: str | None = None
) -> Response:
    """The connections, and the form to connect one more to ``provider`` (chosen by a link, so that the form's
    sandbox address suits it without a script)."""
    ctx = context_of(request)
    known = connectors()
    chosen = provider if provider in known else "xero"
    with ctx.readers() as db:
        locations = _locations(db)
        rows = db.scalars(select(AccountingConnectionRow).order_by(AccountingConnectionRow.created_at))
        connections = [_connection_view(db, row, locations) for row in rows]
        context = {
            **base_context(current_staff(request)),
            "connections": connections,
            "all_locations": list(locations.values()),
            "providers": sorted(((c.key, c.display_name) for c in known.values()), key=lambda p: p[0] != "xero"),
            "provider_name": known[chosen].display_name,
            "has_credentials": _has_credentials(request, chosen),
            "values": {"location_id": "", "provider": chosen, "base_url": _suggested_base_url(request, db, chosen)},
            **extra,
        }
        return render(request, "admin/settings/integrations.html", context, status=status)


@router.get("/settings/integrations")
def integrations_page(request: Request, provider: str | None = None) -> Response:
    return _integrations_page(request, {}, provider=provider)


@router.post("/settings/integrations/connect", dependencies=[Depends(check_csrf)])
def connect(
    request: Request,
    location_id: Annotated[str, Form(max_length=64)] = "",
    provider: Annotated[str, Form(max_length=40)] = "xero",
    base_url: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Start the consent: the browser goes to the accounting system, which sends it back to flexbill's callback."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    values = {"location_id": location_id, "provider": provider, "base_url": base_url}
    try:
        command = parse_form(accounting.NewConnection, values)
        with writing(request) as db:
            _, authorize_url = accounting.create_connection(db, ctx.settings, command, callback_url(request, ctx))
    except FlexbillError as error:
        problem = {"values": values, **form_error(error, CONNECT_LABELS)}
        return _integrations_page(request, problem, error.status_code, provider=provider)
    return redirect(request, authorize_url)


# --- one connection -----------------------------------------------------------------------------------------------


def _connection_page(request: Request, connection_id: uuid.UUID, extra: dict[str, Any], status: int = 200) -> Response:
    with context_of(request).readers() as db:
        try:
            row = accounting.get_connection(db, connection_id)
        except FlexbillError as error:
            return render(
                request, "admin/message.html",
                {"title": "Not found", "message": form_error(error)["error"], "error": True,
                 "back": "/admin/settings/integrations"},
                status=error.status_code,
            )  # fmt: skip
        locations = _locations(db)
        view = _connection_view(db, row, locations)
        context = {
            **base_context(current_staff(request)),
            "connection": view,
            "all_locations": list(locations.values()),
            "values": {
                "tenant_id": row.tenant_id or "",
                "location_ids": view["location_ids"],
                "numbering": row.numbering,
            },
            **extra,
        }
        return render(request, "admin/settings/connection.html", context, status=status)


@router.get("/settings/integrations/{connection_id}")
def connection_page(request: Request, connection_id: uuid.UUID) -> Response:
    return _connection_page(request, connection_id, {})


@router.post("/settings/integrations/{connection_id}", dependencies=[Depends(check_csrf)])
def change_connection(
    request: Request,
    connection_id: uuid.UUID,
    tenant_id: Annotated[str, Form(max_length=100)] = "",
    location_ids: Annotated[list[str] | None, Form()] = None,
    numbering: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The organisation (when the consent offered several), the locations it keeps the books of, and who numbers
    the invoices."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    chosen = [value for value in location_ids or [] if value]
    values = {"tenant_id": tenant_id, "location_ids": chosen, "numbering": numbering}
    try:
        if not chosen:
            raise InvalidInput("choose at least one location for this organisation", field="location_ids")
        changes = parse_form(accounting.ConnectionChanges, values)
        with writing(request) as db:
            accounting.update_connection(ctx, db, connection_id, changes)
    except FlexbillError as error:
        extra = {"values": values, **form_error(error, CHANGE_LABELS)}
        return _connection_page(request, connection_id, extra, error.status_code)
    return redirect(request, f"/admin/settings/integrations/{connection_id}", "The connection is saved.")


@router.post("/settings/integrations/{connection_id}/reconnect", dependencies=[Depends(check_csrf)])
def reconnect(request: Request, connection_id: uuid.UUID) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    try:
        with writing(request) as db:
            _, authorize_url = accounting.restart_authorization(
                db, ctx.settings, connection_id, callback_url(request, ctx)
            )
    except FlexbillError as error:
        return _connection_page(request, connection_id, form_error(error), error.status_code)
    return redirect(request, authorize_url)


# --- mappings -----------------------------------------------------------------------------------------------------


def _remote_lists(request: Request, connection_id: uuid.UUID) -> dict[str, Any]:
    """The organisation's active accounts and tax rates and its tracking options, read now."""
    ctx = context_of(request)
    accounts = [
        item
        for item in accounting.fetch_remote_lists(ctx, connection_id, "accounts")
        if isinstance(item, RemoteAccount) and item.status == "ACTIVE"
    ]
    tax_rates = [
        item
        for item in accounting.fetch_remote_lists(ctx, connection_id, "tax-rates")
        if isinstance(item, RemoteTaxRate) and item.status == "ACTIVE"
    ]
    categories = [
        item
        for item in accounting.fetch_remote_lists(ctx, connection_id, "tracking-categories")
        if isinstance(item, RemoteTrackingCategory)
    ]
    return {
        "remote_accounts": sorted((a for a in accounts if a.sales), key=lambda account: account.code),
        # The payment account is where money lands: bank accounts first.
        "payment_accounts": sorted(
            (a for a in accounts if a.payments), key=lambda account: (account.type.upper() != "BANK", account.code)
        ),
        "remote_tax_rates": sorted(tax_rates, key=lambda rate: rate.name),
        "tracking_options": [
            {"label": f"{category.name}: {option}", "value": json.dumps([category.name, option])}
            for category in categories
            for option in category.options
        ],
    }


def _mapping_values(mappings: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for ours, theirs in (mappings.get("accounts") or {}).items():
        values[f"accounts.{ours}"] = theirs
    for ours, theirs in (mappings.get("tax_rates") or {}).items():
        values[f"tax_rates.{ours}"] = theirs
    values["payment_account"] = mappings.get("payment_account") or ""
    for code, choice in (mappings.get("tracking") or {}).items():
        values[f"tracking.{code}"] = json.dumps([choice["category"], choice["option"]])
    return values


def _mappings_page(
    request: Request, connection_id: uuid.UUID, values: dict[str, str] | None, extra: dict[str, Any], status: int = 200
) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        try:
            row = accounting.get_connection(db, connection_id)
        except FlexbillError as error:
            return _connection_page(request, connection_id, {}, error.status_code)
        locations = _locations(db)
        view = _connection_view(db, row, locations)
        ours = {
            "accounts": list(db.scalars(select(RevenueAccountRow).order_by(RevenueAccountRow.code))),
            "tax_rates": list(db.scalars(select(TaxRateRow).order_by(TaxRateRow.code))),
        }
        saved = dict(row.mappings or {})
    remote: dict[str, Any] = {}
    unavailable: dict[str, Any] = {}
    try:
        remote = _remote_lists(request, connection_id)
    except FlexbillError as problem:
        unavailable = form_error(problem)
        status = max(status, problem.status_code)
    context = {
        **base_context(current_staff(request)),
        "connection": view,
        "ours": ours,
        "remote": remote,
        "values": values if values is not None else _mapping_values(saved),
        **unavailable,
        **extra,
    }
    return render(request, "admin/settings/mappings.html", context, status=status)


@router.get("/settings/integrations/{connection_id}/mappings")
def mappings_page(request: Request, connection_id: uuid.UUID) -> Response:
    return _mappings_page(request, connection_id, None, {})


async def form_data(request: Request) -> FormData:
    """The form as sent, for a form whose field names are the catalog's codes."""
    return await request.form()


def mapping_values(form: FormData) -> dict[str, str]:
    """The form's choices by field name (``accounts.<our code>``, ``tax_rates.<our code>``, ``payment_account``,
    ``tracking.<location code>``), to build the command from and to show again."""
    return {name: value for name, value in form.multi_items() if isinstance(value, str) and name != "csrf_token"}


def mappings_command(values: dict[str, str]) -> accounting.Mappings:
    accounts: dict[str, str] = {}
    tax_rates: dict[str, str] = {}
    tracking: dict[str, dict[str, str]] = {}
    for name, value in values.items():
        kind, _, code = name.partition(".")
        if not value or not code:
            continue  # not mapped (yet)
        if kind == "accounts":
            accounts[code] = value
        elif kind == "tax_rates":
            tax_rates[code] = value
        elif kind == "tracking":
            tracking[code] = _tracking_choice(value, name)
    fields = {
        "accounts": accounts,
        "tax_rates": tax_rates,
        "payment_account": values.get("payment_account", ""),
        "tracking": tracking,
    }
    return parse_form(accounting.Mappings, fields)


def _tracking_choice(value: str, field: str) -> dict[str, str]:
    try:
        category, option = json.loads(value)
        if not isinstance(category, str) or not isinstance(option, str):
            raise ValueError(value)
    except (ValueError, TypeError):
        raise InvalidInput(f"{value!r} is not one of the organisation's tracking options", field=field) from None
    return {"category": category, "option": option}


@router.post("/settings/integrations/{connection_id}/mappings", dependencies=[Depends(check_csrf)])
def save_mappings(request: Request, connection_id: uuid.UUID, form: FormData = Depends(form_data)) -> Response:
    """Every code is checked on both sides by the use case, which lists every problem at once; records that failed
    for want of a mapping are sent again."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    values = mapping_values(form)
    try:
        command = mappings_command(values)
        accounting.set_mappings(context_of(request), connection_id, command)
    except FlexbillError as error:
        return _mappings_page(request, connection_id, values, form_error(error), error.status_code)
    return redirect(
        request, f"/admin/settings/integrations/{connection_id}/mappings", "The mappings are saved and checked."
    )
