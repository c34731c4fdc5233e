"""Who may do what: staff roles and their permissions, and the actor a change is recorded against.

Roles are ordered by trust, and each one may do what the one below may do, and more:

>>> allows(Role.BILLING, Permission.RUN_BILLING), allows(Role.READ_ONLY, Permission.RUN_BILLING)
(True, False)
>>> allows(Role.ADMIN, Permission.MANAGE_SETTINGS), allows(Role.BILLING, Permission.MANAGE_SETTINGS)
(True, False)
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from flexbill.errors import InvalidInput


class Role(enum.StrEnum):
    OWNER = "owner"  # everything, including the other owners
    ADMIN = "admin"  # settings, integrations, gateways, API keys, webhooks and staff below owner
    BILLING = "billing"  # the month's work: customers, bill runs, invoices, payments, refunds, sync, exports
    READ_ONLY = "read_only"  # sees everything a billing user sees, changes nothing

    @property
    def label(self) -> str:
        return {"owner": "Owner", "admin": "Admin", "billing": "Billing", "read_only": "Read-only"}[self.value]


class Permission(enum.StrEnum):
    VIEW = "view"
    RUN_BILLING = "run_billing"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_STAFF = "manage_staff"
    MANAGE_OWNERS = "manage_owners"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.READ_ONLY: frozenset({Permission.VIEW}),
    Role.BILLING: frozenset({Permission.VIEW, Permission.RUN_BILLING}),
    Role.ADMIN: frozenset(
        {Permission.VIEW, Permission.RUN_BILLING, Permission.MANAGE_SETTINGS, Permission.MANAGE_STAFF}
    ),
    Role.OWNER: frozenset(Permission),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


def parse_role(value: str, *, field: str = "role") -> Role:
    try:
        return Role(value.strip().lower().replace("-", "_"))
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise InvalidInput(f"{value!r} is not a role; roles are {choices}", field=field) from None


class ActorKind(enum.StrEnum):
    USER = "user"  # a staff member signed in to the console
    API_KEY = "api_key"  # an integrator's key on the REST API
    MEMBER = "member"  # a member signed in to the portal
    SYSTEM = "system"  # the command line and the worker


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: kept on the audit trail with each change they make."""

    kind: ActorKind
    label: str  # an email address, a key's name and prefix, or the command
    id: uuid.UUID | None = None
    ip: str | None = None
