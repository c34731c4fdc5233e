"""The staff console at /admin: server-rendered pages and plain HTML forms, signed in with a password.

Every page needs a signed-in staff user (:func:`flexbill.web.security.current_staff`); every form is checked for
CSRF and for the user's role before anything changes, and each change is written under the user's name.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from flexbill.web.admin import (
    api_keys,
    audit_log,
    auth,
    billing,
    catalog,
    customers,
    dashboard,
    exports,
    gateways,
    integrations,
    invoices,
    settings,
    staff,
    webhooks,
)
from flexbill.web.security import current_staff

router = APIRouter(include_in_schema=False)
router.include_router(auth.router, prefix="/admin")

# Everything below needs a signed-in staff user.
pages = APIRouter(dependencies=[Depends(current_staff)])
for part in (
    dashboard,
    billing,
    invoices,
    customers,
    catalog,
    settings,
    integrations,
    gateways,
    api_keys,
    staff,
    audit_log,
    webhooks,
    exports,
):
    pages.include_router(part.router, prefix="/admin")
router.include_router(pages)
