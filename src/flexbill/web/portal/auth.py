"""Signing members in to the portal with an emailed one-time link, and out again.

The sign-in form answers the same whatever address is given, and is throttled the same for every address, so it
never tells whose address is a customer's. The link's page does not sign in by itself: mail scanners open the
links in emails, and would use them up; the member presses "Sign in", which posts the link back.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import Response

from flexbill.access import audit
from flexbill.access.model import Actor, ActorKind
from flexbill.access.service import (
    MEMBER_LINK_LIFETIME,
    SESSION_LIFETIME,
    LinkNotValid,
    TooManyAttempts,
    check_member_link,
    end_session,
    issue_member_link,
    redeem_member_link,
)
from flexbill.catalog.store import LocationRow
from flexbill.errors import InvalidInput
from flexbill.links import public_base_url
from flexbill.notify.sign_in import send_sign_in_email, sign_in_email
from flexbill.web.portal.members import customers_of
from flexbill.web.security import (
    MEMBER_COOKIE,
    check_csrf,
    clear_cookie,
    client_of,
    context_of,
    current_member,
    set_cookie,
)
from flexbill.web.templating import redirect, render

router = APIRouter()
csrf = [Depends(check_csrf)]
log = logging.getLogger("flexbill.web")


def _sentence(message: str) -> str:
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


@router.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    return render(request, "portal/sign_in.html", {"email": "", "error": None, "field_error": None})


@router.post("/sign-in", dependencies=csrf)
def ask_for_link(
    request: Request, background: BackgroundTasks, email: Annotated[str, Form(max_length=320)] = ""
) -> Response:
    """Issue a link for any well-formed address (the throttle counts every one alike) and mail it only when the
    address is a customer's. A link issued for another address is never sent, so it signs no one in."""
    ctx = context_of(request)
    try:
        with ctx.sessions() as db, db.begin():
            link = issue_member_link(db, ctx.clock.now(), email=email, client=client_of(request))
            address, token = link.row.email, link.token
            customers = customers_of(db, address)
            location = db.get(LocationRow, customers[0].home_location_id) if customers else None
    except (InvalidInput, TooManyAttempts) as refused:
        context = {"email": email, "error": _sentence(refused.message), "field_error": None}
        if isinstance(refused, InvalidInput):
            context["field_error"] = _sentence(refused.message)
        response = render(request, "portal/sign_in.html", context, status=refused.status_code)
        if isinstance(refused, TooManyAttempts):
            response.headers["retry-after"] = str(math.ceil(refused.retry_after.total_seconds()))
        return response
    if location is not None:
        url = f"{public_base_url(ctx.settings)}/portal/link?token={token}"
        # Sent once the page has answered, and its failure only logged: neither the answer nor its timing may
        # differ for a customer's address.
        message = sign_in_email(ctx, location, to=address, url=url, valid_for=MEMBER_LINK_LIFETIME)
        background.add_task(send_sign_in_email, ctx, message)
    minutes = int(MEMBER_LINK_LIFETIME.total_seconds() // 60)
    return render(request, "portal/link_sent.html", {"email": address, "valid_minutes": minutes})


@router.get("/link")
def link_page(request: Request, token: str = "") -> Response:
    """Whose link it is, and a button to sign in with it; the link itself is not used until the button is."""
    ctx = context_of(request)
    with ctx.readers() as db:
        try:
            email = check_member_link(db, ctx.clock.now(), token).email
        except LinkNotValid as invalid:
            return _link_not_valid(request, invalid)
    return render(request, "portal/link.html", {"token": token, "email": email})


@router.post("/link", dependencies=csrf)
def sign_in_with_link(request: Request, token: Annotated[str, Form(max_length=200)] = "") -> Response:
    ctx = context_of(request)
    client = client_of(request)
    now = ctx.clock.now()
    try:
        with ctx.sessions() as db, db.begin():
            made = redeem_member_link(db, now, token, client=client)
            earlier = request.cookies.get(MEMBER_COOKIE)
            if earlier:
                end_session(db, earlier, now)  # a browser holds one member session at a time
            member = Actor(ActorKind.MEMBER, made.row.email, None, client.ip)
            audit.record(db, "member.sign_in", entity_type="web_sessions", entity_id=made.row.id, actor=member)
    except LinkNotValid as invalid:
        return _link_not_valid(request, invalid)
    response = redirect(request, "/portal", f"You are signed in as {made.row.email}.")
    # Kept across browser restarts for as long as the session may live: members sign in by email, not by password.
    set_cookie(response, ctx, MEMBER_COOKIE, made.token, max_age=int(SESSION_LIFETIME.total_seconds()))
    return response


@router.post("/sign-out", dependencies=csrf)
def sign_out(request: Request) -> Response:
    ctx = context_of(request)
    member = current_member(request)
    with ctx.sessions() as db, db.begin():
        end_session(db, request.cookies.get(MEMBER_COOKIE, ""), ctx.clock.now())
        actor = member.actor(client_of(request).ip)
        audit.record(db, "member.sign_out", entity_type="web_sessions", entity_id=member.session_id, actor=actor)
    response = redirect(request, "/portal/sign-in", "You are signed out.")
    clear_cookie(response, ctx, MEMBER_COOKIE)
    return response


def _link_not_valid(request: Request, invalid: LinkNotValid) -> Response:
    context = {"message": _sentence(invalid.message), "email": invalid.email or ""}
    return render(request, "portal/link_not_valid.html", context, status=invalid.status_code)
