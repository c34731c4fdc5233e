"""Signing staff in and out of the console."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from flexbill.access import audit
from flexbill.access.service import SignInRefused, TooManyAttempts, end_session, sign_in_staff
from flexbill.web.security import (
    STAFF_COOKIE,
    check_csrf,
    clear_cookie,
    client_of,
    context_of,
    current_staff,
    safe_next,
    set_cookie,
)
from flexbill.web.templating import redirect, render

router = APIRouter()


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/admin") -> Response:
    return render(request, "admin/sign_in.html", {"next": safe_next(next, "/admin"), "email": "", "error": None})


@router.post("/sign-in", dependencies=[Depends(check_csrf)])
def sign_in(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/admin",
) -> Response:
    ctx = context_of(request)
    back = safe_next(next, "/admin")
    try:
        with ctx.sessions() as db, db.begin():
            made = sign_in_staff(db, ctx.clock.now(), email=email, password=password, client=client_of(request))
            if made is not None and request.cookies.get(STAFF_COOKIE):
                end_session(db, request.cookies[STAFF_COOKIE], ctx.clock.now())  # the browser's earlier session
        if made is None:  # the failed attempt is committed: it counts towards the throttle
            raise SignInRefused()
    except (SignInRefused, TooManyAttempts) as refused:
        context = {"next": back, "email": email, "error": refused.message[0].upper() + refused.message[1:] + "."}
        response = render(request, "admin/sign_in.html", context, status=refused.status_code)
        if isinstance(refused, TooManyAttempts):
            response.headers["retry-after"] = str(math.ceil(refused.retry_after.total_seconds()))
        return response
    signed_in = redirect(request, back)
    set_cookie(signed_in, ctx, STAFF_COOKIE, made.token)
    return signed_in


@router.post("/sign-out", dependencies=[Depends(check_csrf)])
def sign_out(request: Request) -> Response:
    ctx = context_of(request)
    staff = current_staff(request)
    with ctx.sessions() as db, db.begin():
        end_session(db, request.cookies.get(STAFF_COOKIE, ""), ctx.clock.now())
        audit.record(db, "user.sign_out", entity_type="users", entity_id=staff.id, actor=request.state.actor)
    response = redirect(request, "/admin/sign-in", "You are signed out.")
    clear_cookie(response, ctx, STAFF_COOKIE)
    return response
