"""The settings area: its index, the billing rules, and how emails are sent (with a test email)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from flexbill.access import audit
from flexbill.access.model import Permission
from flexbill.billing.model import BillingRules
from flexbill.billing.service import BillingRulesChanges, get_billing_rules, update_billing_rules
from flexbill.bootstrap import mailer_for
from flexbill.errors import FlexbillError
from flexbill.notify.check import CheckEmailRequest, send_check_email
from flexbill.web.admin.settings_support import (
    OPENED_ONLY_WITH_PERMISSION,
    SETTINGS_PAGES,
    base_context,
    form_error,
    sentence,
)
from flexbill.web.forms import parse_form
from flexbill.web.security import check_csrf, context_of, current_staff, require, writing
from flexbill.web.templating import redirect, render

router = APIRouter()

BILLING_LABELS = {
    "billing_day": "Billing day",
    "generate_days_before": "Days before the billing day",
    "due_days": "Days to pay",
    "grouping": "Invoices per customer",
    "issue_mode": "New invoices",
    "tax_rounding": "Tax rounding",
    "lock_date": "Lock date",
    "charge_retries": "Charge retries",
    "charge_retry_days": "Days between charge retries",
    "reminder_days": "Reminder",
    "accounting_sync": "Sync to accounting",
    "auto_send": "Email invoices",
    "auto_charge": "Charge saved cards",
}
# May be left blank: no lock date, no reminder. Every other field keeps a value.
BLANK_MEANS_NONE = ("lock_date", "reminder_days")


@router.get("/settings")
def settings_index(request: Request) -> Response:
    staff = current_staff(request)
    sections = [
        {
            "path": path,
            "title": title,
            "about": about,
            "can_change": staff.can(permission),
            "can_open": staff.can(permission) or path not in OPENED_ONLY_WITH_PERMISSION,
        }
        for path, title, about, permission in SETTINGS_PAGES
    ]
    return render(request, "admin/settings/index.html", {**base_context(staff), "sections": sections})


# --- billing rules ------------------------------------------------------------------------------------------------


def _rule_values(rules: BillingRules) -> dict[str, str]:
    """The form's fields as the rules stand."""
    return {
        "billing_day": str(rules.billing_day),
        "generate_days_before": str(rules.generate_days_before),
        "due_days": str(rules.due_days),
        "grouping": rules.grouping.value,
        "issue_mode": rules.issue_mode.value,
        "tax_rounding": rules.tax_rounding.value,
        "lock_date": rules.lock_date.isoformat() if rules.lock_date else "",
        "charge_retries": str(rules.charge_retries),
        "charge_retry_days": str(rules.charge_retry_days),
        "reminder_days": "" if rules.reminder_days is None else str(rules.reminder_days),
        "accounting_sync": rules.accounting_sync.value,
        "auto_send": "true" if rules.auto_send else "false",
        "auto_charge": "true" if rules.auto_charge else "false",
    }


def _billing_page(request: Request, values: dict[str, str], extra: dict[str, Any], status: int = 200) -> Response:
    context = {**base_context(current_staff(request)), "values": values, **extra}
    return render(request, "admin/settings/billing.html", context, status=status)


@router.get("/settings/billing")
def billing_rules_page(request: Request) -> Response:
    with context_of(request).readers() as db:
        rules = get_billing_rules(db)
    return _billing_page(request, _rule_values(rules), {})


def billing_changes(values: dict[str, str]) -> BillingRulesChanges:
    """The command of the form: every field given is set. A blank lock date or reminder clears it; any other blank
    field reaches the use case as empty, which says so."""
    blank = [name for name, value in values.items() if not value.strip()]
    changes = parse_form(BillingRulesChanges, {name: value.strip() for name, value in values.items()})
    return changes.model_copy(update=dict.fromkeys(blank)) if blank else changes


@router.post("/settings/billing", dependencies=[Depends(check_csrf)])
def save_billing_rules(
    request: Request,
    billing_day: Annotated[str, Form(max_length=10)] = "",
    generate_days_before: Annotated[str, Form(max_length=10)] = "",
    due_days: Annotated[str, Form(max_length=10)] = "",
    grouping: Annotated[str, Form(max_length=20)] = "",
    issue_mode: Annotated[str, Form(max_length=20)] = "",
    tax_rounding: Annotated[str, Form(max_length=20)] = "",
    lock_date: Annotated[str, Form(max_length=20)] = "",
    charge_retries: Annotated[str, Form(max_length=10)] = "",
    charge_retry_days: Annotated[str, Form(max_length=10)] = "",
    reminder_days: Annotated[str, Form(max_length=10)] = "",
    accounting_sync: Annotated[str, Form(max_length=20)] = "",
    auto_send: Annotated[str, Form(max_length=10)] = "",
    auto_charge: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    values = {
        "billing_day": billing_day,
        "generate_days_before": generate_days_before,
        "due_days": due_days,
        "grouping": grouping,
        "issue_mode": issue_mode,
        "tax_rounding": tax_rounding,
        "lock_date": lock_date,
        "charge_retries": charge_retries,
        "charge_retry_days": charge_retry_days,
        "reminder_days": reminder_days,
        "accounting_sync": accounting_sync,
        "auto_send": auto_send,
        "auto_charge": auto_charge,
    }
    try:
        changes = billing_changes(values)
        with writing(request) as db:
            update_billing_rules(db, changes)
    except FlexbillError as error:
        return _billing_page(request, values, form_error(error, BILLING_LABELS), error.status_code)
    return redirect(request, "/admin/settings/billing", "The billing rules are saved.")


# --- email --------------------------------------------------------------------------------------------------------


def _email_page(request: Request, to: str, extra: dict[str, Any], status: int = 200) -> Response:
    settings = context_of(request).settings
    context = {
        **base_context(current_staff(request)),
        "smtp": None
        if settings.smtp_host is None
        else {
            "host": settings.smtp_host,
            "port": settings.smtp_port,
            "security": settings.smtp_security,
            "user": settings.smtp_user,
        },
        "mail_from": settings.mail_from,
        "to": to,
        "result": None,
        **extra,
    }
    return render(request, "admin/settings/email.html", context, status=status)


@router.get("/settings/email")
def email_page(request: Request) -> Response:
    return _email_page(request, current_staff(request).email, {})


@router.post("/settings/email/test", dependencies=[Depends(check_csrf)])
def send_test_email(request: Request, to: Annotated[str, Form(max_length=320)] = "") -> Response:
    """Sends at once, while the operator waits, and shows the mail server's answer on the same page."""
    require(current_staff(request), Permission.MANAGE_SETTINGS)
    ctx = context_of(request)
    try:
        check = parse_form(CheckEmailRequest, {"to": to})
    except FlexbillError as error:
        return _email_page(request, to, form_error(error, {"to": "The address"}), error.status_code)
    result = send_check_email(mailer_for(ctx), check, sender_address=ctx.settings.mail_from)
    with writing(request) as db:
        outcome = {"to": check.to, "sent": result.sent, "answer": result.detail}
        audit.record(db, "email.test", entity_type="email", after=outcome)
    shown = {"sent": result.sent, "detail": sentence(result.detail)}
    return _email_page(request, check.to, {"result": shown}, 200 if result.sent else 502)
