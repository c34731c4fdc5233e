"""Driving the console and the portal as a browser does, without one: sign in through the forms, read the CSRF
token from the page that holds a form, and post the form back with it."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from flexbill.access.model import Role
from flexbill.access.service import create_user
from flexbill.bootstrap import Context
from flexbill.web.app import create_app

BASE_URL = "http://127.0.0.1:8000"  # the address flexbill believes it serves on (FLEXBILL_PUBLIC_URL unset)
PASSWORD = "a long enough password"
_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def make_staff(ctx: Context, role: Role = Role.OWNER, email: str | None = None) -> str:
    address = email or f"{role.value}@example.com"
    with ctx.sessions() as db, db.begin():
        create_user(db, email=address, name=f"{role.label} user", role=role, password=PASSWORD)
    return address


def browser(ctx: Context) -> TestClient:
    """A client with its own cookie jar, like a browser; not signed in."""
    return TestClient(create_app(ctx), base_url=BASE_URL, follow_redirects=False)


def csrf_token(client: TestClient, page: str) -> str:
    """The CSRF token of the form on ``page`` (GET), as the browser would submit it."""
    response = client.get(page)
    assert response.status_code == 200, f"{page}: {response.status_code} {response.text[:500]}"
    found = _TOKEN.search(response.text)
    assert found, f"{page} has no form with a CSRF token"
    return found.group(1)


def submit(client: TestClient, page: str, action: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Post the form of ``page`` to ``action`` with ``data`` (lists become repeated fields, as checkboxes do)."""
    fields = dict(data or {})
    fields["csrf_token"] = csrf_token(client, page)
    return client.post(action, data=fields, **kwargs)


def signed_in_staff(ctx: Context, role: Role = Role.OWNER, email: str | None = None) -> TestClient:
    address = make_staff(ctx, role, email)
    client = browser(ctx)
    signed = submit(client, "/admin/sign-in", "/admin/sign-in", {"email": address, "password": PASSWORD})
    assert signed.status_code == 303, signed.text[:500]
    return client


def text_of(html: str) -> str:
    """A page's words, without tags, whitespace collapsed: what a person reads."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
