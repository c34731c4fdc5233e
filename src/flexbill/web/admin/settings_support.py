"""What the settings pages share: a refused form's message in words (top of the form and next to its field), the
labels the forms give their fields, and the pages of the settings area."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flexbill.access.model import Permission
from flexbill.errors import FlexbillError
from flexbill.web.security import StaffUser

# (path, title, what it is for, the permission that changes it)
SETTINGS_PAGES: tuple[tuple[str, str, str, Permission], ...] = (
    ("/admin/settings/billing", "Billing rules",
     "The billing day, payment terms, the lock date, and what flexbill does on its own: sync, email, charge.",
     Permission.MANAGE_SETTINGS),
    ("/admin/settings/integrations", "Accounting",
     "The connection to your accounting system, the locations it keeps the books of, and how your accounts and "
     "tax rates match its own.", Permission.MANAGE_SETTINGS),
    ("/admin/settings/payments", "Payment gateways",
     "The card payment account of each location, which members' saved cards are charged through.",
     Permission.MANAGE_SETTINGS),
    ("/admin/settings/email", "Email", "How invoices and receipts are emailed, and a test email to check it.",
     Permission.MANAGE_SETTINGS),
    ("/admin/settings/api-keys", "API keys", "Keys that let other software read and change your billing.",
     Permission.MANAGE_SETTINGS),
    ("/admin/settings/webhooks", "Webhooks",
     "Addresses of other software that flexbill tells when invoices and payments change.",
     Permission.MANAGE_SETTINGS),
    ("/admin/settings/staff", "Staff", "Who signs in to this console, and what each person may do.",
     Permission.MANAGE_STAFF),
    ("/admin/settings/audit", "Audit log", "Every change, who made it and when; for owners and admins.",
     Permission.MANAGE_STAFF),
)  # fmt: skip

# Pages that only those who may change them may open (the others are there to read for everyone).
OPENED_ONLY_WITH_PERMISSION = frozenset({"/admin/settings/audit"})

NO_ERROR: dict[str, Any] = {"error": None, "error_field": None}


def sentence(message: str, labels: Mapping[str, str] | None = None) -> str:
    """A use case's message as a sentence on the page, with field names written as the form labels them:
    ``billing_day cannot be empty`` becomes ``Billing day cannot be empty.``"""
    text = message.strip()
    for name, label in (labels or {}).items():
        text = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w])", label.lower(), text)
    if not text:
        return "Something is not right."
    if text.split()[0].rstrip(":,;").isalpha():  # an email address or a code stays as it is written
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def form_error(
    error: FlexbillError, labels: Mapping[str, str] | None = None, *, name_the_field: bool = False
) -> dict[str, Any]:
    """The context a template needs to show a refused form: the message, and the field it is about.
    ``name_the_field`` puts the field first when the message does not name it, as the JSON API does."""
    message = error.message
    if name_the_field and error.field and not message.startswith(error.field):
        message = f"{error.field}: {message}"
    return {"error": sentence(message, labels), "error_field": error.field}


def base_context(staff: StaffUser) -> dict[str, Any]:
    """What every settings page's template needs: the settings pages (for their menu), no error yet, and what
    the signed-in user may change (the buttons they cannot use are hidden; the server checks again)."""
    return {
        **NO_ERROR,
        "settings_pages": [(path, title) for path, title, _, _ in SETTINGS_PAGES],
        "can_manage_settings": staff.can(Permission.MANAGE_SETTINGS),
        "can_manage_staff": staff.can(Permission.MANAGE_STAFF),
        "can_manage_owners": staff.can(Permission.MANAGE_OWNERS),
    }
