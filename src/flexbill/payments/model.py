"""The rules of charging: what an attempt is, when a declined charge is tried again, amounts in minor units.

Nothing here talks to a gateway or a database; the worked examples are the ones the tests use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum


class PaymentSource(StrEnum):
    MANUAL = "manual"  # recorded by staff (a bank transfer, cash): sent to the accounting system
    GATEWAY = "gateway"  # taken by a payment gateway: sent to the accounting system
    ACCOUNTING = "accounting"  # made in the accounting system and taken from it: never sent back


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class AttemptStatus(StrEnum):
    """A charge attempt is written (``pending``) before the gateway is called, so a crash never loses one."""

    PENDING = "pending"  # about to be sent, or sent and not answered yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # declined, or refused before any money moved
    REQUIRES_ACTION = "requires_action"  # the bank wants the member present (3-D Secure)
    UNKNOWN = "unknown"  # sent, answer lost (timeout, 5xx, dropped connection): the janitor asks the gateway
    CANCELED = "canceled"


OPEN_ATTEMPT_STATUSES = (AttemptStatus.PENDING, AttemptStatus.UNKNOWN)


class AttemptKind(StrEnum):
    AUTO = "auto"  # off-session on the due date (or a retry)
    CHECKOUT = "checkout"  # the member paying on a hosted page (pay now, 3-D Secure)


# What flexbill writes in the metadata of what it asks a gateway to do, to find its own charges again.
INVOICE_KEY = "flexbill_invoice_id"
ATTEMPT_KEY = "flexbill_attempt"
CUSTOMER_KEY = "flexbill_customer_id"


def charge_idempotency_key(invoice_id: uuid.UUID, attempt: int) -> str:
    """The gateway's idempotency key of an attempt: the same attempt sent twice (a retry after a timeout, two
    workers) is one charge at the gateway; a new attempt (after a decline) is a new key.

    >>> charge_idempotency_key(uuid.UUID("0190f0a4-0000-7000-8000-000000000001"), 2)
    'flexbill:charge:0190f0a4-0000-7000-8000-000000000001:2'
    """
    return f"flexbill:charge:{invoice_id}:{attempt}"


def refund_idempotency_key(refund_id: uuid.UUID) -> str:
    return f"flexbill:refund:{refund_id}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3
    days_apart: int = 3

    def next_try(self, declined_on: date, declines_so_far: int) -> date | None:
        """When a declined automatic charge is tried again, or None when it is not.

        With the default (3 retries, 3 days apart), declines on 1 Dec, 4 Dec, 7 Dec and 10 Dec:
        >>> policy = RetryPolicy()
        >>> [policy.next_try(date(2026, 12, d), n) for d, n in ((1, 1), (4, 2), (7, 3), (10, 4))]
        [datetime.date(2026, 12, 4), datetime.date(2026, 12, 7), datetime.date(2026, 12, 10), None]
        """
        if declines_so_far > self.retries:
            return None
        return declined_on + timedelta(days=self.days_apart)


def status_after_refund(amount: Decimal, refunded: Decimal) -> PaymentStatus:
    """A payment's status once ``refunded`` of its ``amount`` has been given back.

    >>> [status_after_refund(Decimal("100"), Decimal(refunded)).value for refunded in ("0", "40", "100")]
    ['succeeded', 'partially_refunded', 'refunded']
    """
    if refunded >= amount:
        return PaymentStatus.REFUNDED
    return PaymentStatus.PARTIALLY_REFUNDED if refunded > 0 else PaymentStatus.SUCCEEDED
