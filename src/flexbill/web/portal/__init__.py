"""The members' portal at /portal: members see, download and pay their invoices, see their receipts and keep a
card on file, signed in with a one-time link emailed to their billing address (no password).

Every page but signing in needs a signed-in member (:func:`flexbill.web.security.current_member`); what a member
sees is decided in one place (:mod:`flexbill.web.portal.members`); every form is checked for CSRF, and each change
is written under the member's address.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from flexbill.web.portal import auth, invoices, payment_methods, receipts
from flexbill.web.security import current_member

router = APIRouter(include_in_schema=False)
router.include_router(auth.router, prefix="/portal")

# Everything below needs a signed-in member.
pages = APIRouter(dependencies=[Depends(current_member)])
for part in (invoices, payment_methods, receipts):
    pages.include_router(part.router, prefix="/portal")
router.include_router(pages)
