"""Who may come in and what is written down: staff passwords and sessions, throttled sign-in, CSRF on every form,
roles on every console route, and the audit trail of changes made in the console and through the API."""

from __future__ import annotations

import importlib
import pkgutil
import re
import uuid
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from flexbill.access.model import Role
from flexbill.access.service import STAFF_IDLE, create_user
from flexbill.access.store import AuditRow, UserRow
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.errors import Conflict, InvalidInput
from flexbill.settings import get_settings
from flexbill.web import admin
from tests.support import Catalog
from tests.web import PASSWORD, browser, csrf_token, make_staff, signed_in_staff, submit, text_of


def _sign_in(client: TestClient, email: str, password: str) -> object:
    return submit(client, "/admin/sign-in", "/admin/sign-in", {"email": email, "password": password})


def _audit_count(ctx: Context) -> int:
    with ctx.readers() as db:
        return db.scalar(select(func.count()).select_from(AuditRow)) or 0


def test_a_user_is_made_with_a_hashed_password_and_checked_fields(ctx: Context) -> None:
    with ctx.sessions() as db, db.begin():
        user = create_user(db, email=" Ada@Example.COM ", name="Ada", role=Role.ADMIN, password=PASSWORD)
        assert user.email == "ada@example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
    with ctx.sessions() as db, db.begin(), pytest.raises(Conflict, match="already exists"):
        create_user(db, email="ada@example.com", name="Ada again", role=Role.ADMIN, password=PASSWORD)
    with ctx.sessions() as db, db.begin(), pytest.raises(InvalidInput, match="at least 12 characters") as short:
        create_user(db, email="bob@example.com", name="Bob", role=Role.BILLING, password="short")
    assert short.value.field == "password"
    with ctx.sessions() as db, db.begin(), pytest.raises(InvalidInput, match="not an email address"):
        create_user(db, email="bob", name="Bob", role=Role.BILLING, password=PASSWORD)


def test_sign_in_says_the_same_for_a_wrong_password_and_an_unknown_address(ctx: Context) -> None:
    make_staff(ctx, Role.OWNER, "owner@example.com")
    client = browser(ctx)
    wrong_password = _sign_in(client, "owner@example.com", "not the password")
    unknown = _sign_in(client, "nobody@example.com", PASSWORD)
    assert wrong_password.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert "The email address or the password is not right." in text_of(wrong_password.text)  # type: ignore[attr-defined]
    assert "The email address or the password is not right." in text_of(unknown.text)  # type: ignore[attr-defined]
    assert client.get("/admin").status_code == 303


def test_guessing_is_throttled_per_address_and_lifts_after_the_window(ctx: Context, clock: FixedClock) -> None:
    make_staff(ctx, Role.OWNER, "owner@example.com")
    client = browser(ctx)
    for _ in range(5):
        assert _sign_in(client, "owner@example.com", "wrong guess").status_code == 401  # type: ignore[attr-defined]
    throttled = _sign_in(client, "owner@example.com", PASSWORD)  # even the right password waits now
    assert throttled.status_code == 429  # type: ignore[attr-defined]
    assert "Too many attempts: try again in 15 minutes." in text_of(throttled.text)  # type: ignore[attr-defined]
    assert throttled.headers["retry-after"] == "900"  # type: ignore[attr-defined]
    clock.instant += timedelta(minutes=15, seconds=1)
    assert _sign_in(client, "owner@example.com", PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_a_session_ends_when_idle_on_sign_out_and_for_a_disabled_user(ctx: Context, clock: FixedClock) -> None:
    client = signed_in_staff(ctx)
    assert client.get("/admin").status_code == 200
    clock.instant += STAFF_IDLE + timedelta(seconds=1)
    expired = client.get("/admin/invoices?status=paid")
    assert expired.status_code == 303
    assert expired.headers["location"] == "/admin/sign-in?next=/admin/invoices%3Fstatus%3Dpaid"

    client = signed_in_staff(ctx, Role.BILLING)
    signed_out = submit(client, "/admin", "/admin/sign-out")
    assert signed_out.status_code == 303
    assert client.get("/admin").status_code == 303

    client = browser(ctx)
    assert _sign_in(client, "billing@example.com", PASSWORD).status_code == 303  # type: ignore[attr-defined]
    with ctx.sessions() as db, db.begin():
        db.scalars(select(UserRow).where(UserRow.email == "billing@example.com")).one().disabled_at = clock.instant
    assert client.get("/admin").status_code == 303


def test_sign_in_follows_only_paths_of_this_site(ctx: Context) -> None:
    make_staff(ctx)
    client = browser(ctx)
    page = "/admin/sign-in?next=//evil.example/phish"
    assert 'name="next" value="/admin"' in client.get(page).text
    signed = submit(
        client,
        page,
        "/admin/sign-in",
        {"email": "owner@example.com", "password": PASSWORD, "next": "https://evil.example"},
    )
    assert signed.headers["location"] == "/admin"


def test_forms_without_their_token_or_from_another_site_change_nothing(ctx: Context, cat: Catalog) -> None:
    client = signed_in_staff(ctx)
    before = _audit_count(ctx)
    forged = client.post("/admin/bill-run", data={"date": "2026-12-01", "csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert "Form expired" in text_of(forged.text)
    token = csrf_token(client, "/admin/bill-run")
    cross_site = client.post(
        "/admin/bill-run", data={"date": "2026-12-01", "csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    other_browser = signed_in_staff(ctx, Role.ADMIN)  # a valid token of another session is no good either
    stolen = other_browser.post("/admin/bill-run", data={"date": "2026-12-01", "csrf_token": token})
    assert stolen.status_code == 403
    assert _audit_count(ctx) == before + 1  # only the second user's sign-in


def _admin_routes(ctx: Context) -> list[tuple[str, str]]:
    """Every route of the console but signing in, with made-up ids in the paths: each module of
    ``flexbill.web.admin`` is read, so a page added later is covered without touching this test."""
    routes: list[tuple[str, str]] = []
    for module_info in pkgutil.iter_modules(admin.__path__):
        module = importlib.import_module(f"{admin.__name__}.{module_info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", []):
            if not isinstance(route, APIRoute) or route.path == "/sign-in":
                continue
            path = "/admin" + re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
            routes.extend((method, path) for method in sorted(route.methods or ()))
    return routes


def test_every_console_route_needs_a_session_and_every_form_a_token(ctx: Context, cat: Catalog) -> None:
    routes = _admin_routes(ctx)
    assert len(routes) >= 10
    before = _audit_count(ctx)
    anonymous = browser(ctx)
    for method, path in routes:
        answer = anonymous.request(method, path, data={"csrf_token": "0" * 64} if method == "POST" else None)
        if method == "POST":
            assert answer.status_code in (303, 403), f"{method} {path}: {answer.status_code}"
        else:
            assert answer.status_code == 303, f"{method} {path}: {answer.status_code}"
            assert answer.headers["location"].startswith("/admin/sign-in?next="), path
    owner = signed_in_staff(ctx)
    for method, path in routes:
        if method == "POST":
            forged = owner.post(path, data={"csrf_token": "0" * 64})
            assert forged.status_code == 403, f"forged {path}: {forged.status_code}"
    assert _audit_count(ctx) == before + 1  # the owner's sign-in, and nothing else


def test_a_read_only_user_is_refused_every_console_change(ctx: Context, cat: Catalog) -> None:
    client = signed_in_staff(ctx, Role.READ_ONLY)
    token = csrf_token(client, "/admin")
    before = _audit_count(ctx)
    posts = [path for method, path in _admin_routes(ctx) if method == "POST" and path != "/admin/sign-out"]
    for path in posts:
        refused = client.post(path, data={"csrf_token": token})
        assert refused.status_code in (403, 404), f"{path}: {refused.status_code} {text_of(refused.text)[:200]}"
    assert _audit_count(ctx) == before


def test_changes_through_the_api_are_audited_under_the_key_with_secrets_masked(
    ctx: Context, client: TestClient
) -> None:
    made = client.post(
        "/api/v1/locations",
        json={"name": "Leeds", "code": "LDS", "currency": "GBP", "timezone": "Europe/London"},
    )
    assert made.status_code == 201, made.text
    location_id = made.json()["id"]
    changed = client.patch(f"/api/v1/locations/{location_id}", json={"phone": "+44 113 000 0000"})
    assert changed.status_code == 200, changed.text
    with ctx.readers() as db:
        entries = list(db.scalars(select(AuditRow).where(AuditRow.entity_id == location_id).order_by(AuditRow.id)))
    assert [entry.action for entry in entries] == ["locations.create", "locations.update"]
    assert entries[0].actor_kind == "api_key"
    assert entries[0].actor_label.startswith("API key tests (fbk_")
    assert entries[0].after is not None
    assert entries[0].after["code"] == "LDS"
    assert entries[1].before == {"phone": None}
    assert entries[1].after == {"phone": "+44 113 000 0000"}

    make_staff(ctx, Role.ADMIN, "ada@example.com")
    with ctx.readers() as db:
        made_user = db.scalars(select(AuditRow).where(AuditRow.action == "users.create")).all()
    assert made_user == []  # made outside any request or command: no actor, nothing to record


def test_the_first_owner_is_made_from_the_command_line(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    from flexbill.cli import app

    monkeypatch.setenv("FLEXBILL_DATABASE_URL", ctx.settings.database_url or "")
    monkeypatch.setenv("FLEXBILL_DATA_DIR", str(ctx.settings.data_dir))
    get_settings.cache_clear()
    runner = CliRunner()
    made = runner.invoke(
        app, ["users", "create", "--email", "Boss@Example.com", "--name", "The Boss"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert made.exit_code == 0, made.output
    assert "Staff user boss@example.com (owner) made" in made.output
    weak = runner.invoke(
        app, ["users", "create", "--email", "x@example.com", "--role", "billing", "--password", "short"]
    )
    assert weak.exit_code == 1
    assert "password: a password needs at least 12 characters" in weak.output
    bad_role = runner.invoke(
        app, ["users", "create", "--email", "y@example.com", "--role", "boss", "--password", PASSWORD]
    )
    assert "'boss' is not a role; roles are owner, admin, billing, read_only" in bad_role.output
    with ctx.readers() as db:
        users = db.scalars(select(UserRow.email)).all()
        entry = db.scalars(select(AuditRow).where(AuditRow.action == "users.create")).one()
    assert users == ["boss@example.com"]
    assert entry.actor_kind == "system"
    assert entry.after is not None
    assert entry.after["password_hash"] == "***"
    get_settings.cache_clear()
    client = browser(ctx)
    assert _sign_in(client, "boss@example.com", PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_people_get_pages_for_errors_and_programs_get_json(ctx: Context, client: TestClient) -> None:
    staff = signed_in_staff(ctx)
    missing = staff.get(f"/admin/invoices/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Not found" in text_of(missing.text)
    malformed = staff.get("/admin/invoices/not-an-id")
    assert malformed.status_code == 422
    assert "Not valid" in text_of(malformed.text)
    api = client.get(f"/api/v1/invoices/{uuid.uuid4()}")
    assert api.status_code == 404
    assert api.json()["message"].endswith("does not exist")
