"""When an invoice is charged automatically: the first try, the retries after a decline, and when never."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from flexbill.invoicing.store import InvoiceRow
from flexbill.money import from_minor_units, to_minor_units
from flexbill.payments.charging import CATCH_UP_DAYS, next_attempt
from flexbill.payments.model import AttemptKind, AttemptStatus, RetryPolicy
from flexbill.payments.store import ChargeAttemptRow

DUE = date(2026, 12, 15)
POLICY = RetryPolicy(retries=3, days_apart=3)


def invoice() -> InvoiceRow:
    return InvoiceRow(id=uuid.uuid4(), due_date=DUE, total=Decimal("360.00"), amount_paid=Decimal(0))


def attempt(number: int, status: AttemptStatus, day: date, kind: AttemptKind = AttemptKind.AUTO) -> ChargeAttemptRow:
    made = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    return ChargeAttemptRow(
        number=number, status=status.value, kind=kind.value, day=day if kind == AttemptKind.AUTO else None,
        created_at=made, updated_at=made,
    )  # fmt: skip


def test_the_first_try_is_on_the_due_date_or_within_the_catch_up_days_after_it() -> None:
    days = [date(2026, 12, d) for d in range(13, 26)]
    tried = [day.day for day in days if next_attempt(invoice(), [], day, "UTC", POLICY) == 1]
    assert tried == list(range(15, 15 + CATCH_UP_DAYS + 1))  # 15 to 22 December


def test_declines_are_retried_three_times_three_days_apart_counting_from_each_try() -> None:
    declined = [attempt(1, AttemptStatus.FAILED, DUE)]
    assert next_attempt(invoice(), declined, date(2026, 12, 17), "UTC", POLICY) is None
    assert next_attempt(invoice(), declined, date(2026, 12, 18), "UTC", POLICY) == 2
    declined += [attempt(2, AttemptStatus.FAILED, date(2026, 12, 20))]  # tried late: the next counts from the 20th
    assert next_attempt(invoice(), declined, date(2026, 12, 22), "UTC", POLICY) is None
    assert next_attempt(invoice(), declined, date(2026, 12, 23), "UTC", POLICY) == 3
    declined += [
        attempt(3, AttemptStatus.FAILED, date(2026, 12, 23)),
        attempt(4, AttemptStatus.FAILED, date(2026, 12, 26)),
    ]
    assert next_attempt(invoice(), declined, date(2027, 1, 31), "UTC", POLICY) is None  # three retries made


@pytest.mark.parametrize(
    "status", [AttemptStatus.PENDING, AttemptStatus.UNKNOWN, AttemptStatus.SUCCEEDED, AttemptStatus.REQUIRES_ACTION]
)
def test_nothing_is_tried_while_an_attempt_is_open_after_a_success_or_when_the_bank_wants_the_member(
    status: AttemptStatus,
) -> None:
    assert next_attempt(invoice(), [attempt(1, status, DUE)], date(2026, 12, 20), "UTC", POLICY) is None


def test_an_abandoned_payment_page_does_not_use_up_the_automatic_tries() -> None:
    page = attempt(1, AttemptStatus.CANCELED, DUE, kind=AttemptKind.CHECKOUT)
    assert next_attempt(invoice(), [page], DUE, "UTC", POLICY) == 2


def test_an_attempt_the_gateway_never_saw_is_followed_by_a_new_one_the_next_day() -> None:
    lost = attempt(1, AttemptStatus.CANCELED, DUE)
    assert next_attempt(invoice(), [lost], date(2026, 12, 16), "UTC", POLICY) == 2


def test_amounts_go_to_the_gateway_in_minor_units_exactly() -> None:
    assert to_minor_units(Decimal("360.00"), "GBP") == 36000
    assert to_minor_units(Decimal("1200"), "JPY") == 1200
    assert to_minor_units(Decimal("1.234"), "KWD") == 1234
    assert from_minor_units(36001, "EUR") == Decimal("360.01")
    with pytest.raises(ValueError, match="more decimal places"):
        to_minor_units(Decimal("1.005"), "GBP")
