"""The accounting sync's tasks, registered with the worker."""

from __future__ import annotations

from datetime import timedelta

from flexbill.accounting import sync
from flexbill.accounting.model import RecordKind
from flexbill.accounting.outbox import CONTACT_TASK, TASK_KINDS
from flexbill.bootstrap import Context
from flexbill.worker import Handler, Recurring, TaskHandler, register, register_recurring

# Records handed to a connector at once. Connectors split them into the calls their system takes: 150 is three
# of Xero's 50 and five of QuickBooks' 30, so neither sends a part-filled call in a long sync.
BATCH = 150


@register
def _invoices(_ctx: Context) -> TaskHandler:
    return Handler(TASK_KINDS[RecordKind.INVOICE], BATCH, sync.sync_invoices)


@register
def _payments(_ctx: Context) -> TaskHandler:
    return Handler(TASK_KINDS[RecordKind.PAYMENT], BATCH, sync.sync_payments)


@register
def _credit_notes(_ctx: Context) -> TaskHandler:
    return Handler(TASK_KINDS[RecordKind.CREDIT_NOTE], 10, sync.sync_credit_notes)


@register
def _pdfs(_ctx: Context) -> TaskHandler:
    return Handler(sync.PDF_TASK, 10, sync.fetch_pdfs)


@register
def _pulls(_ctx: Context) -> TaskHandler:
    return Handler(sync.PULL_TASK, 1, sync.pull_changes)


@register
def _refreshes(_ctx: Context) -> TaskHandler:
    return Handler(sync.REFRESH_TASK, BATCH, sync.refresh_documents)


@register
def _polls(_ctx: Context) -> TaskHandler:
    return Handler(sync.POLL_TASK, 1, sync.schedule_pulls)


@register_recurring
def _poll_schedule(ctx: Context) -> list[Recurring]:
    return [Recurring(sync.POLL_TASK, timedelta(seconds=ctx.settings.poll_seconds))]


@register
def _contacts(_ctx: Context) -> TaskHandler:
    return Handler(CONTACT_TASK, BATCH, sync.update_contacts)
