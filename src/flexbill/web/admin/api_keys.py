"""API keys: the list, a new key (shown once, on the page that follows its creation), and revoking one."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from flexbill.access.model import Permission
from flexbill.access.service import create_api_key, revoke_api_key
from flexbill.access.store import ApiKeyRow
from flexbill.errors import FlexbillError
from flexbill.web.admin.settings_support import base_context, form_error
from flexbill.web.security import check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()

SCOPE_WORDS = {"read": "Read: see customers, invoices and payments", "write": "Write: create and change them"}


def _keys_page(request: Request, extra: dict[str, Any], status: int = 200) -> Response:
    with context_of(request).readers() as db:
        keys = list(db.scalars(select(ApiKeyRow).order_by(ApiKeyRow.revoked_at.is_not(None), ApiKeyRow.created_at)))
        context = {
            **base_context(current_staff(request)),
            "keys": keys,
            "scope_words": SCOPE_WORDS,
            "name": "",
            "scopes": ["read"],
            **extra,
        }
        return render(request, "admin/settings/api_keys.html", context, status=status)


@router.get("/settings/api-keys")
def api_keys_page(request: Request) -> Response:
    return _keys_page(request, {})


@router.post("/settings/api-keys", dependencies=[Depends(check_csrf)])
def add_api_key(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The new key is shown on this page's answer, once: only its digest is kept, so it cannot be shown again."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    chosen = [scope for scope in dict.fromkeys(scopes or []) if scope]
    try:
        with writing(request) as db:
            made = create_api_key(db, name, frozenset(chosen))
            key = {"name": made.row.name, "scopes": made.row.scopes.split(), "key": made.key}
    except FlexbillError as error:
        labels = {"scopes": "What it may do"}
        return _keys_page(request, {"name": name, "scopes": chosen, **form_error(error, labels)}, error.status_code)
    context = {**base_context(current_staff(request)), "made": key, "scope_words": SCOPE_WORDS}
    return render(request, "admin/settings/api_key_created.html", context, status=201)


@router.post("/settings/api-keys/{key_id}/revoke", dependencies=[Depends(check_csrf)])
def revoke_key(request: Request, key_id: uuid.UUID) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    try:
        with writing(request) as db:
            row = revoke_api_key(db, key_id, ctx.clock.now())
            label = f"{row.name} ({row.prefix}…)"
    except FlexbillError as error:
        return _keys_page(request, form_error(error), error.status_code)
    return redirect(request, "/admin/settings/api-keys", f"The API key {label} is revoked: it no longer works.")
