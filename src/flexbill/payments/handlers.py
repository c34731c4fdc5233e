"""Getting paid's tasks, registered with the worker."""

from __future__ import annotations

from datetime import timedelta

from flexbill.bootstrap import Context
from flexbill.payments import charging
from flexbill.worker import Handler, Recurring, TaskHandler, register, register_recurring


@register
def _charges(_ctx: Context) -> TaskHandler:
    # A batch shares one read of its invoices from the accounting system; each charge is one call to the gateway.
    return Handler(charging.CHARGE_TASK, 25, charging.charge_invoices)


@register
def _due_work(_ctx: Context) -> TaskHandler:
    return Handler(charging.DUE_TASK, 1, charging.run_due_work)


@register
def _due_schedule(_ctx: Context) -> TaskHandler:
    return Handler(charging.SCHEDULE_TASK, 1, charging.schedule_due_work)


@register
def _janitor(_ctx: Context) -> TaskHandler:
    return Handler(charging.JANITOR_TASK, 1, charging.sweep_open_attempts)


@register_recurring
def _schedules(_ctx: Context) -> list[Recurring]:
    # Each location's due-date work is queued once its day has begun; looking every hour keeps that within an
    # hour of midnight wherever the location is. The janitor settles whatever is left open.
    return [
        Recurring(charging.SCHEDULE_TASK, timedelta(hours=1)),
        Recurring(charging.JANITOR_TASK, charging.JANITOR_EVERY),
    ]
