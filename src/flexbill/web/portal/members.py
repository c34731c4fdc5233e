"""Whose records a member sees: the one rule every page of the portal asks.

A member signs in as an email address, and sees the customers billed to it: every customer whose billing
``email`` is that address, whatever its case (a member who is billed as a person and for their company sees
both). Everything else a page shows (invoices, receipts, saved cards) is reached through these customers, and
anything outside them is answered as if it did not exist, so an id typed into the address bar tells nothing.
"""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from flexbill.customers.store import CustomerRow
from flexbill.invoicing.model import InvoiceStatus
from flexbill.invoicing.store import InvoiceRow
from flexbill.web.security import Member
from flexbill.web.templating import render


def _billed_to(email: str) -> ColumnElement[bool]:
    """The customers billed to ``email``, compared without case (``ix_customers_lower_email`` finds them)."""
    return func.lower(CustomerRow.email) == email.strip().lower()


def customers_of(session: Session, email: str) -> list[CustomerRow]:
    """The customers billed to ``email`` (compared without case), by name."""
    query = select(CustomerRow).where(_billed_to(email))
    return list(session.scalars(query.order_by(CustomerRow.name, CustomerRow.id)))


def customer_ids_of(session: Session, member: Member) -> list[uuid.UUID]:
    return [customer.id for customer in customers_of(session, member.email)]


def parse_id(value: str) -> uuid.UUID | None:
    """An id from the address bar or a form; None for anything that is not one (answered as not found)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def invoice_of(session: Session, member: Member, invoice_id: str) -> InvoiceRow | None:
    """The invoice if the member may see it: issued (never a draft) to one of their customers; else None. One
    query, asked on every page of an invoice."""
    found = parse_id(invoice_id)
    if found is None:
        return None
    query = (
        select(InvoiceRow)
        .join(CustomerRow, CustomerRow.id == InvoiceRow.customer_id)
        .where(InvoiceRow.id == found, InvoiceRow.status != InvoiceStatus.DRAFT.value, _billed_to(member.email))
    )
    return session.scalar(query)


def customer_of(session: Session, member: Member, customer_id: str) -> CustomerRow | None:
    """The customer if it is one of the member's; else None."""
    found = parse_id(customer_id)
    if found is None:
        return None
    return next((customer for customer in customers_of(session, member.email) if customer.id == found), None)


def not_found(request: Request, what: str = "invoice") -> Response:
    """The one answer for a record that does not exist and for one that is not the member's."""
    message = f"There is no such {what} among yours. It may have been mistyped, or belong to someone else."
    return render(
        request,
        "portal/message.html",
        {"title": f"{what.capitalize()} not found", "message": message, "error": True, "back": "/portal"},
        status=404,
    )
