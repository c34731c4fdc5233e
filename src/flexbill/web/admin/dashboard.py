"""The console's first page: what the next bill run will make, what is owed by age, and what needs someone."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from flexbill.billing.model import next_billing_day
from flexbill.billing.service import get_billing_rules, preview_bill_run
from flexbill.catalog.store import LocationRow
from flexbill.invoicing.reports import (
    AGE_BUCKETS,
    AGE_LABELS,
    ATTENTION_KINDS,
    ATTENTION_LABELS,
    attention_counts,
    receivables_by_age,
)
from flexbill.invoicing.service import todays_by_location
from flexbill.money import ZERO
from flexbill.web.security import context_of
from flexbill.web.templating import render

router = APIRouter()


@router.get("")
def dashboard(request: Request) -> Response:
    ctx = context_of(request)
    with ctx.readers() as db:
        todays = todays_by_location(db, ctx.clock)
        rules = get_billing_rules(db)
        run_date = next_billing_day(ctx.clock.today(), rules.billing_day)
        preview = preview_bill_run(db, run_date)
        locations = {row.id: row for row in db.scalars(select(LocationRow).order_by(LocationRow.name))}
        counts: Counter[uuid.UUID] = Counter()
        totals: dict[uuid.UUID, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
        for planned in preview.invoices:
            counts[planned.location.id] += 1
            totals[planned.location.id][planned.location.currency] += planned.total
        next_run = [
            {
                "location": locations[location_id].name if location_id in locations else str(location_id),
                "count": count,
                "totals": sorted(totals[location_id].items()),
            }
            for location_id, count in counts.items()
        ]
        context = {
            "run_date": run_date,
            "next_run": next_run,
            "receivables": receivables_by_age(db, todays),
            "buckets": [(bucket, AGE_LABELS[bucket]) for bucket in AGE_BUCKETS],
            "attention": [
                (kind, ATTENTION_LABELS[kind], count) for kind, count in attention_counts(db, todays).items()
            ],
            "attention_kinds": ATTENTION_KINDS,
            "rules": rules,
        }
    return render(request, "admin/dashboard.html", context)
