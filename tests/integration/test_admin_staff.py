"""Staff users and the audit log in the console, driven as a browser drives them.

Owners manage everyone; admins manage everyone but owners; the last active owner stays one; a new role, being
disabled or a new password signs the user out everywhere. The audit log shows every change, newest first, with
what changed side by side, to owners and admins only.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flexbill.access.model import Role
from flexbill.access.service import create_user
from flexbill.access.store import AuditRow, UserRow, WebSessionRow
from flexbill.bootstrap import Context
from tests.web import PASSWORD, browser, signed_in_staff, submit
from tests.web import text_of as _text_of

FORGED = "0" * 64
NEW_PASSWORD = "another long password"


def text_of(page: str) -> str:
    return html.unescape(_text_of(page))


def user(ctx: Context, email: str) -> UserRow:
    with ctx.readers() as db:
        return db.scalars(select(UserRow).where(UserRow.email == email)).one()


def sign_in(ctx: Context, email: str, password: str = PASSWORD) -> TestClient:
    client = browser(ctx)
    signed = submit(client, "/admin/sign-in", "/admin/sign-in", {"email": email, "password": password})
    assert signed.status_code == 303, text_of(signed.text)
    return client


def signed_out(client: TestClient) -> bool:
    page = client.get("/admin")
    return page.status_code == 303 and page.headers["location"].startswith("/admin/sign-in")


def add_user(ctx: Context, email: str, role: Role) -> UserRow:
    with ctx.sessions() as db, db.begin():
        return create_user(db, email=email, name=email.split("@")[0].title(), role=role, password=PASSWORD)


def sessions_of(ctx: Context, user_id: Any) -> int:
    with ctx.readers() as db:
        return db.scalar(
            select(func.count())
            .select_from(WebSessionRow)
            .where(WebSessionRow.user_id == user_id, WebSessionRow.ended_at.is_(None))
        )


# --- the list and adding users ------------------------------------------------------------------------------------


def test_the_staff_list_shows_each_user_and_an_owner_adds_one_who_can_sign_in(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    add_user(ctx, "bea@example.com", Role.BILLING)
    page = text_of(owner.get("/admin/settings/staff").text)
    assert "Owner user (you) owner@example.com Owner" in page
    assert "Bea bea@example.com Billing Never Active" in page

    added = submit(
        owner,
        "/admin/settings/staff",
        "/admin/settings/staff",
        {"email": " Carla@Example.com ", "name": "Carla", "role": "admin", "password": NEW_PASSWORD},
    )
    assert added.status_code == 303, text_of(added.text)
    assert "Carla (carla@example.com) can now sign in as Admin." in owner.get("/admin/settings/staff").text
    carla = user(ctx, "carla@example.com")
    assert (carla.name, carla.role, carla.disabled_at) == ("Carla", "admin", None)
    assert "Settings" in sign_in(ctx, "carla@example.com", NEW_PASSWORD).get("/admin/settings").text


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        ({"email": "dan@example", "role": "billing"}, 422, "'dan@example' is not an email address."),
        ({"email": "dan@example.com", "role": "billing", "password": "short"}, 422, "at least 12 characters"),
        ({"email": "dan@example.com", "role": "boss"}, 422, "'boss' is not a role; roles are owner, admin"),
        ({"email": "owner@example.com", "role": "billing"}, 409, "already exists"),
    ],
)
def test_a_bad_new_user_is_refused_with_words_and_nothing_is_added(
    ctx: Context, data: dict[str, str], status: int, words: str
) -> None:
    owner = signed_in_staff(ctx)
    fields = {"name": "Dan", "password": NEW_PASSWORD, **data}
    refused = submit(owner, "/admin/settings/staff", "/admin/settings/staff", fields)
    assert refused.status_code == status
    assert words in text_of(refused.text)
    assert '<div class="error" role="alert">' in refused.text
    assert f'value="{data["email"]}"' in refused.text  # what was typed is kept
    assert NEW_PASSWORD not in refused.text  # but never the password
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(UserRow)) == 1


def test_an_admin_adds_no_owner_and_billing_users_add_no_one(ctx: Context) -> None:
    admin = signed_in_staff(ctx, Role.ADMIN)
    assert 'value="owner"' not in admin.get("/admin/settings/staff").text
    data = {"email": "eve@example.com", "name": "Eve", "role": "owner", "password": NEW_PASSWORD}
    refused = submit(admin, "/admin/settings/staff", "/admin/settings/staff", data)
    assert refused.status_code == 403
    assert "Only an owner can add, change or disable an owner." in text_of(refused.text)

    billing = signed_in_staff(ctx, Role.BILLING)
    page = text_of(billing.get("/admin/settings/staff").text)
    assert "Only owners and admins can add or change staff users." in page
    as_billing = submit(billing, "/admin/settings/staff", "/admin/settings/staff", {**data, "role": "billing"})
    assert as_billing.status_code == 403
    owner = signed_in_staff(ctx)
    forged = owner.post("/admin/settings/staff", data={**data, "csrf_token": FORGED})
    assert forged.status_code == 403
    assert "Form expired" in forged.text
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(UserRow).where(UserRow.email == "eve@example.com")) == 0

    anonymous = browser(ctx).get("/admin/settings/staff")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/admin/sign-in?next=/admin/settings/staff"


# --- roles, passwords, disabling ----------------------------------------------------------------------------------


def test_a_new_role_signs_the_user_out_everywhere(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    bea = add_user(ctx, "bea@example.com", Role.BILLING)
    beas_browser = sign_in(ctx, "bea@example.com")
    page = f"/admin/settings/staff/{bea.id}"
    assert "Change the role" in owner.get(page).text

    changed = submit(owner, page, f"{page}/role", {"role": "admin"})
    assert changed.status_code == 303
    assert "Bea is now Admin, and was signed out everywhere." in owner.get(page).text
    assert user(ctx, "bea@example.com").role == "admin"
    assert signed_out(beas_browser)
    assert sessions_of(ctx, bea.id) == 0
    assert "API keys" in sign_in(ctx, "bea@example.com").get("/admin/settings/api-keys").text

    bad = submit(owner, page, f"{page}/role", {"role": "manager"})
    assert bad.status_code == 422
    assert "'manager' is not a role" in text_of(bad.text)
    assert user(ctx, "bea@example.com").role == "admin"


def test_the_last_active_owner_cannot_be_demoted_and_admins_cannot_touch_owners(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    me = user(ctx, "owner@example.com")
    page = f"/admin/settings/staff/{me.id}"
    refused = submit(owner, page, f"{page}/role", {"role": "admin"})
    assert refused.status_code == 409
    assert (
        "owner@example.com is the last active owner and cannot be given the Admin role: make another user an "
        "owner first." in text_of(refused.text)
    )
    assert user(ctx, "owner@example.com").role == "owner"
    assert not signed_out(owner)

    admin = signed_in_staff(ctx, Role.ADMIN)
    seen = text_of(admin.get(page).text)
    assert "Only an owner can change an owner." in seen
    assert "Change the role" not in seen
    for action, data in ((f"{page}/role", {"role": "billing"}), (f"{page}/disable", {}), (f"{page}/password", {})):
        attempt = submit(admin, page, action, {"password": NEW_PASSWORD, **data})
        assert attempt.status_code == 403, action
        assert "Only an owner can add, change or disable an owner." in text_of(attempt.text)
    after = user(ctx, "owner@example.com")
    assert (after.role, after.disabled_at, after.password_hash) == ("owner", None, me.password_hash)

    # With a second owner, the first may step down.
    add_user(ctx, "second@example.com", Role.OWNER)
    assert submit(owner, page, f"{page}/role", {"role": "admin"}).status_code == 303
    assert user(ctx, "owner@example.com").role == "admin"
    assert signed_out(owner)


def test_disabling_signs_the_user_out_and_keeps_them_out_until_enabled(ctx: Context) -> None:
    admin = signed_in_staff(ctx, Role.ADMIN)
    bea = add_user(ctx, "bea@example.com", Role.BILLING)
    beas_browser = sign_in(ctx, "bea@example.com")
    page = f"/admin/settings/staff/{bea.id}"

    assert submit(admin, page, f"{page}/disable").status_code == 303
    assert "Bea is disabled: they were signed out and cannot sign in." in admin.get(page).text
    assert user(ctx, "bea@example.com").disabled_at is not None
    assert signed_out(beas_browser)
    again = submit(browser(ctx), "/admin/sign-in", "/admin/sign-in", {"email": "bea@example.com", "password": PASSWORD})
    assert again.status_code == 401
    twice = submit(admin, page, f"{page}/disable")
    assert twice.status_code == 409
    assert "bea@example.com is already disabled." in text_of(twice.text)

    assert submit(admin, page, f"{page}/enable").status_code == 303
    assert user(ctx, "bea@example.com").disabled_at is None
    sign_in(ctx, "bea@example.com")

    me = user(ctx, "admin@example.com")
    myself = submit(admin, f"/admin/settings/staff/{me.id}", f"/admin/settings/staff/{me.id}/disable")
    assert myself.status_code == 409
    assert "You cannot disable yourself; ask another owner or admin." in text_of(myself.text)

    reader = signed_in_staff(ctx, Role.READ_ONLY)
    assert "Disable" not in reader.get(page).text
    assert submit(reader, page, f"{page}/disable").status_code == 403
    assert admin.post(f"{page}/disable", data={"csrf_token": FORGED}).status_code == 403
    assert user(ctx, "bea@example.com").disabled_at is None


def test_a_new_password_works_signs_the_user_out_and_a_short_one_is_refused(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    bea = add_user(ctx, "bea@example.com", Role.BILLING)
    beas_browser = sign_in(ctx, "bea@example.com")
    page = f"/admin/settings/staff/{bea.id}"

    short = submit(owner, page, f"{page}/password", {"password": "too short"})
    assert short.status_code == 422
    assert "A password needs at least 12 characters." in text_of(short.text)
    assert not signed_out(beas_browser)

    assert submit(owner, page, f"{page}/password", {"password": NEW_PASSWORD}).status_code == 303
    assert "Bea has a new password, and was signed out everywhere." in owner.get(page).text
    assert signed_out(beas_browser)
    old = submit(browser(ctx), "/admin/sign-in", "/admin/sign-in", {"email": "bea@example.com", "password": PASSWORD})
    assert old.status_code == 401
    sign_in(ctx, "bea@example.com", NEW_PASSWORD)


# --- the audit log ------------------------------------------------------------------------------------------------


def test_the_audit_log_shows_each_change_newest_first_with_before_and_after(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    saved = submit(
        owner,
        "/admin/settings/billing",
        "/admin/settings/billing",
        {
            "billing_day": "1", "generate_days_before": "0", "due_days": "30", "grouping": "single",
            "issue_mode": "issue", "tax_rounding": "per_line", "lock_date": "", "charge_retries": "3",
            "charge_retry_days": "3", "reminder_days": "", "accounting_sync": "off", "auto_send": "false",
            "auto_charge": "false",
        },
    )  # fmt: skip
    assert saved.status_code == 303
    add = {"email": "bea@example.com", "name": "Bea", "role": "billing", "password": NEW_PASSWORD}
    assert submit(owner, "/admin/settings/staff", "/admin/settings/staff", add).status_code == 303

    page = owner.get("/admin/settings/audit")
    assert page.status_code == 200
    words = text_of(page.text)
    assert words.index("Users · create") < words.index("Billing settings · update")  # newest first
    assert "Staff: owner@example.com" in words
    assert "Due days 14 30" in words  # the field, before, after
    assert "Password hash ***" in words  # secrets are masked
    assert NEW_PASSWORD not in page.text

    only_rules = text_of(owner.get("/admin/settings/audit", params={"entity_type": "billing_settings"}).text)
    assert "Billing settings · update" in only_rules
    assert "Users · create" not in only_rules
    only_creates = text_of(owner.get("/admin/settings/audit", params={"action": "users.create"}).text)
    assert "Users · create" in only_creates
    assert "Billing settings · update" not in only_creates
    bea = user(ctx, "bea@example.com")
    by_id = text_of(owner.get("/admin/settings/audit", params={"entity_type": "users", "entity_id": str(bea.id)}).text)
    assert "Users · create" in by_id
    nobody = text_of(owner.get("/admin/settings/audit", params={"actor": "someone-else"}).text)
    assert "No entries match these filters." in nobody


def test_the_audit_log_pages_back_through_older_entries(ctx: Context) -> None:
    owner = signed_in_staff(ctx)
    with ctx.sessions() as db, db.begin():
        from flexbill.access import audit
        from flexbill.access.model import Actor, ActorKind

        robot = Actor(ActorKind.SYSTEM, "flexbill import")
        for index in range(55):
            audit.record(db, f"test.step{index:02}", entity_type="steps", entity_id=index, actor=robot)
    first = owner.get("/admin/settings/audit", params={"entity_type": "steps"})
    words = text_of(first.text)
    assert "Test · step54" in words
    assert "Test · step04" not in words
    older = first.text.split('">Older entries</a>')[0].rsplit('<a href="', 1)[1]
    second = text_of(owner.get(html.unescape(older)).text)
    assert "Test · step04" in second
    assert "Test · step00" in second
    assert "Test · step54" not in second
    assert "flexbill: flexbill import" in second


def test_only_owners_and_admins_read_the_audit_log(ctx: Context) -> None:
    billing = signed_in_staff(ctx, Role.BILLING)
    refused = billing.get("/admin/settings/audit")
    assert refused.status_code == 403
    assert "The audit log is for owners and admins" in text_of(refused.text)
    assert "sign_in" not in refused.text
    admin = signed_in_staff(ctx, Role.ADMIN)
    assert "User · sign in" in text_of(admin.get("/admin/settings/audit").text)
    bad = admin.get("/admin/settings/audit", params={"before": "not-an-id"})
    assert bad.status_code == 422
    anonymous = browser(ctx).get("/admin/settings/audit")
    assert anonymous.status_code == 303
    with ctx.readers() as db:
        assert db.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == "user.sign_in")) == 2
