"""Staff users: the list, adding one, and for each user a new role, a new password, disabling and enabling.

Who may do what is decided in ``flexbill.access.service`` (MANAGE_STAFF; owners only by owners; the last active
owner stays one); the pages hide what the signed-in user cannot do, and the use cases refuse it anyway.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from flexbill.access import service as access
from flexbill.access.model import Permission, Role, parse_role
from flexbill.access.store import UserRow
from flexbill.errors import FlexbillError
from flexbill.web.admin.settings_support import base_context, form_error
from flexbill.web.security import StaffUser, check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()

LABELS = {"email": "Email", "name": "Name", "role": "Role", "password": "Password"}
ROLE_WORDS = {
    Role.OWNER: "Everything, including managing owners",
    Role.ADMIN: "Settings, integrations, API keys, webhooks and staff (but not owners), and all billing work",
    Role.BILLING: "The month's work: customers, bill runs, invoices, payments, sync and exports",
    Role.READ_ONLY: "Sees what billing users see, changes nothing",
}


def _roles_for(staff: StaffUser) -> list[tuple[str, str, str]]:
    """The roles the signed-in user may give: (value, label, what it allows)."""
    return [
        (role.value, role.label, ROLE_WORDS[role])
        for role in Role
        if staff.can(Permission.MANAGE_STAFF) and (role is not Role.OWNER or staff.can(Permission.MANAGE_OWNERS))
    ]


def _may_manage(staff: StaffUser, user: UserRow) -> bool:
    try:
        access.check_may_manage(staff.role, Role(user.role))
    except FlexbillError:
        return False
    return True


def _staff_page(request: Request, extra: dict[str, Any], status: int = 200) -> Response:
    staff = current_staff(request)
    with context_of(request).readers() as db:
        users = list(db.scalars(select(UserRow).order_by(UserRow.disabled_at.is_not(None), UserRow.name)))
        context = {
            **base_context(staff),
            "users": [{"row": user, "role": Role(user.role)} for user in users],
            "roles": _roles_for(staff),
            "values": {"email": "", "name": "", "role": Role.BILLING.value},
            **extra,
        }
        return render(request, "admin/settings/staff.html", context, status=status)


@router.get("/settings/staff")
def staff_page(request: Request) -> Response:
    return _staff_page(request, {})


@router.post("/settings/staff", dependencies=[Depends(check_csrf)])
def add_staff_user(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    staff = current_staff(request)
    require(staff, Permission.MANAGE_STAFF)
    values = {"email": email, "name": name, "role": role}  # the password is never sent back
    try:
        with writing(request) as db:
            user = access.add_user(db, by=staff.role, email=email, name=name, role=parse_role(role), password=password)
            added = f"{user.name} ({user.email}) can now sign in as {Role(user.role).label}."
    except FlexbillError as error:
        return _staff_page(request, {"values": values, **form_error(error, LABELS)}, error.status_code)
    return redirect(request, "/admin/settings/staff", added)


# --- one user -----------------------------------------------------------------------------------------------------


def _user_page(request: Request, user_id: uuid.UUID, extra: dict[str, Any], status: int = 200) -> Response:
    staff = current_staff(request)
    with context_of(request).readers() as db:
        user = db.get(UserRow, user_id)
        if user is None:
            context = {"title": "Not found", "message": "There is no such staff user.", "error": True}
            return render(request, "admin/message.html", {**context, "back": "/admin/settings/staff"}, status=404)
        context = {
            **base_context(staff),
            "user": user,
            "role": Role(user.role),
            "is_me": user.id == staff.id,
            "may_manage": _may_manage(staff, user),
            "roles": _roles_for(staff),
            "values": {"role": user.role},
            **extra,
        }
        return render(request, "admin/settings/staff_user.html", context, status=status)


@router.get("/settings/staff/{user_id}")
def user_page(request: Request, user_id: uuid.UUID) -> Response:
    return _user_page(request, user_id, {})


@router.post("/settings/staff/{user_id}/role", dependencies=[Depends(check_csrf)])
def change_role(request: Request, user_id: uuid.UUID, role: Annotated[str, Form(max_length=20)] = "") -> Response:
    """A new role signs the user out everywhere: their next page asks them to sign in, under the new role."""
    staff = current_staff(request)
    require(staff, Permission.MANAGE_STAFF)
    now = context_of(request).clock.now()
    try:
        with writing(request) as db:
            user = access.change_role(db, now, user_id, parse_role(role), by=staff.role)
            done = f"{user.name} is now {Role(user.role).label}, and was signed out everywhere."
    except FlexbillError as error:
        return _user_page(request, user_id, {"values": {"role": role}, **form_error(error, LABELS)}, error.status_code)
    return redirect(request, f"/admin/settings/staff/{user_id}", done)


@router.post("/settings/staff/{user_id}/password", dependencies=[Depends(check_csrf)])
def reset_password(
    request: Request, user_id: uuid.UUID, password: Annotated[str, Form(max_length=1024)] = ""
) -> Response:
    staff = current_staff(request)
    require(staff, Permission.MANAGE_STAFF)
    now = context_of(request).clock.now()
    try:
        with writing(request) as db:
            user = access.reset_password(db, now, user_id, password, by=staff.role)
            done = f"{user.name} has a new password, and was signed out everywhere."
    except FlexbillError as error:
        return _user_page(request, user_id, form_error(error, LABELS), error.status_code)
    return redirect(request, f"/admin/settings/staff/{user_id}", done)


@router.post("/settings/staff/{user_id}/disable", dependencies=[Depends(check_csrf)])
def disable(request: Request, user_id: uuid.UUID) -> Response:
    staff = current_staff(request)
    require(staff, Permission.MANAGE_STAFF)
    now = context_of(request).clock.now()
    try:
        with writing(request) as db:
            user = access.disable_user(db, now, user_id, by=staff.role, by_user=staff.id)
            done = f"{user.name} is disabled: they were signed out and cannot sign in."
    except FlexbillError as error:
        return _user_page(request, user_id, form_error(error), error.status_code)
    return redirect(request, f"/admin/settings/staff/{user_id}", done)


@router.post("/settings/staff/{user_id}/enable", dependencies=[Depends(check_csrf)])
def enable(request: Request, user_id: uuid.UUID) -> Response:
    staff = current_staff(request)
    require(staff, Permission.MANAGE_STAFF)
    try:
        with writing(request) as db:
            user = access.enable_user(db, user_id, by=staff.role)
            done = f"{user.name} can sign in again."
    except FlexbillError as error:
        return _user_page(request, user_id, form_error(error), error.status_code)
    return redirect(request, f"/admin/settings/staff/{user_id}", done)
