"""The audit log: every change, newest first, by whom and what changed (before and after, side by side).

Owners and admins read it (MANAGE_STAFF): it names every person's every change, and shows what staff,
API keys and members changed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, select

from flexbill.access.model import ActorKind, Permission
from flexbill.access.store import AuditRow
from flexbill.web.admin.settings_support import base_context
from flexbill.web.security import context_of, current_staff
from flexbill.web.templating import render

router = APIRouter()

PAGE_SIZE = 50
ACTOR_KINDS = {
    ActorKind.USER.value: "Staff",
    ActorKind.API_KEY.value: "API key",
    ActorKind.MEMBER.value: "Member",
    ActorKind.SYSTEM.value: "flexbill",
}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered(actor: str, action: str, entity_type: str, entity_id: str) -> Select[AuditRow]:
    query = select(AuditRow)
    if actor:
        query = query.where(AuditRow.actor_label.ilike(_like(actor), escape="\\"))
    if action:
        query = query.where(AuditRow.action.startswith(action, autoescape=True))
    if entity_type:
        query = query.where(AuditRow.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditRow.entity_id == entity_id)
    return query


def shown(value: Any) -> str:
    """A recorded value as a person reads it: nothing for none, JSON for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def changes_of(entry: AuditRow) -> list[dict[str, str]]:
    """The fields the entry changed, each with its value before and after (a creation has no before, a deletion
    no after). The record's id is left out: the entry names its record already."""
    before = entry.before or {}
    after = entry.after or {}
    fields = [field for field in dict.fromkeys([*before, *after]) if field != "id"]
    return [
        {"field": field, "before": shown(before.get(field)), "after": shown(after.get(field))}
        for field in fields
        if entry.before is None or entry.after is None or before.get(field) != after.get(field)
    ]


def entry_view(entry: AuditRow) -> dict[str, Any]:
    return {
        "row": entry,
        "who_kind": ACTOR_KINDS.get(entry.actor_kind, entry.actor_kind),
        "what": entry.action.replace(".", " · ").replace("_", " "),
        "changes": changes_of(entry),
        "has_before": entry.before is not None,
        "has_after": entry.after is not None,
    }


@router.get("/settings/audit")
def audit_page(
    request: Request,
    actor: str = Query("", max_length=320),
    action: str = Query("", max_length=100),
    entity_type: str = Query("", max_length=50),
    entity_id: str = Query("", max_length=64),
    before: str = Query("", max_length=64, description="The last entry of the previous page."),
) -> Response:
    staff = current_staff(request)
    context: dict[str, Any] = {
        **base_context(staff),
        "filters": {"actor": actor, "action": action, "entity_type": entity_type, "entity_id": entity_id},
        "entries": [],
        "entity_types": [],
        "older": None,
        "paged": bool(before),
        "allowed": staff.can(Permission.MANAGE_STAFF),
    }
    if not context["allowed"]:
        return render(request, "admin/settings/audit.html", context, status=403)
    query = filtered(actor.strip(), action.strip(), entity_type.strip(), entity_id.strip())
    if before:
        try:
            query = query.where(AuditRow.id < uuid.UUID(before))
        except ValueError:
            context["error"] = "That page of the audit log does not exist: start again from the newest entries."
            return render(request, "admin/settings/audit.html", context, status=422)
    with context_of(request).readers() as db:
        rows = list(db.scalars(query.order_by(AuditRow.id.desc()).limit(PAGE_SIZE + 1)))
        context["entity_types"] = sorted(
            kind for kind in db.scalars(select(AuditRow.entity_type).distinct()) if kind is not None
        )
    context["entries"] = [entry_view(row) for row in rows[:PAGE_SIZE]]
    context["older"] = str(rows[PAGE_SIZE - 1].id) if len(rows) > PAGE_SIZE else None
    return render(request, "admin/settings/audit.html", context)
