"""QuickBooks Online's JSON on the wire: datetimes with the company's offset, the Fault envelope, exact decimals.

QuickBooks writes instants in the company's time zone with its offset (``2026-11-02T09:30:00+00:00`` for a UK
company in winter, ``+01:00`` in summer) and stamps every answer with a ``time`` carrying milliseconds. Errors
come in the Fault envelope, HTTP 400 for validation:

>>> fault_body(error("6240", "Duplicate Name Exists Error", "The name supplied already exists."), now=WINTER)
{'Fault': {'Error': [{'Message': 'Duplicate Name Exists Error', 'Detail': 'The name supplied already exists.', \
'code': '6240', 'element': ''}], 'type': 'ValidationFault'}, 'time': '2026-11-02T09:30:00.000+00:00'}

Amounts are :class:`~decimal.Decimal` end to end: requests are parsed with decimals for numbers
(:func:`loads`) and answers written digit for digit (:func:`flexbill.sandbox.jsonwire.dumps`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from flexbill.sandbox.jsonwire import dumps
from flexbill.sandbox.quickbooks.demo import TIMEZONE

ZONE = ZoneInfo(TIMEZONE)
CENT = Decimal("0.01")
WINTER = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)  # for the examples

Json = Any


def qbo_datetime(instant: datetime) -> str:
    """``MetaData`` times: the company's local time with its offset.

    >>> qbo_datetime(WINTER)
    '2026-11-02T09:30:00+00:00'
    >>> qbo_datetime(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    '2026-07-01T13:00:00+01:00'
    """
    return instant.astimezone(ZONE).replace(microsecond=0).isoformat()


def answer_time(instant: datetime) -> str:
    """The ``time`` of an answer: local time with milliseconds and offset."""
    return instant.astimezone(ZONE).isoformat(timespec="milliseconds")


def local_date(instant: datetime) -> date:
    """The company's today at ``instant``."""
    return instant.astimezone(ZONE).date()


def parse_instant(text: str) -> datetime:
    """An ISO date or datetime from a request (``changedSince``, a query's ``MetaData.LastUpdatedTime``); a date
    or a datetime without offset is the company's local time."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or datetime") from None
    return parsed.replace(tzinfo=ZONE) if parsed.tzinfo is None else parsed


def loads(body: bytes) -> Json:
    return json.loads(body, parse_float=Decimal)


def money(value: Decimal) -> Decimal:
    """Rounded half up to the penny (QuickBooks' rounding of amounts and of computed tax)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def decimal_of(value: object) -> Decimal:
    """A number from a request (JSON number or numeric string); raises ``ValueError`` otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        try:
            parsed = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not parsed.is_finite():
            raise ValueError(f"{value!r} is not a number")
        return parsed
    raise ValueError(f"{value!r} is not a number")


@dataclass(frozen=True)
class ErrorItem:
    code: str
    message: str
    detail: str
    element: str = ""


@dataclass
class QboError(Exception):
    """A Fault answer: one or more errors of one type, with the HTTP status QuickBooks uses (400 mostly)."""

    errors: list[ErrorItem]
    type: str = "ValidationFault"
    status: int = 400
    extra: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{item.code} {item.message}: {item.detail}" for item in self.errors)


def error(code: str, message: str, detail: str, element: str = "", *, status: int = 400) -> QboError:
    return QboError([ErrorItem(code, message, detail, element)], status=status)


def fault_object(failure: QboError) -> dict[str, Any]:
    return {
        "Error": [
            {"Message": item.message, "Detail": item.detail, "code": item.code, "element": item.element}
            for item in failure.errors
        ],
        "type": failure.type,
    }


def fault_body(failure: QboError, *, now: datetime) -> dict[str, Any]:
    return {"Fault": fault_object(failure), "time": answer_time(now)}


def authentication_body(detail: str, *, now: datetime) -> dict[str, Any]:
    """The 401 for a missing, unknown, expired or revoked token: Intuit's lower-case ``fault`` (not a Fault)."""
    return {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "time": int(now.timestamp() * 1000),
    }


THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_DETAIL = "The request limit was reached.  Try again later"


def throttle_json(now: datetime) -> dict[str, Any]:
    failure = QboError([ErrorItem("3001", THROTTLE_MESSAGE, THROTTLE_DETAIL)], type="SERVICE", status=429)
    return fault_body(failure, now=now)


def throttle_xml(now: datetime) -> bytes:
    """The throttle answer as QuickBooks historically sent it: XML even to a client that asked for JSON."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{answer_time(now)}">'
        f'<Fault type="SERVICE"><Error code="3001"><Message>{THROTTLE_MESSAGE}</Message>'
        f"<Detail>{THROTTLE_DETAIL}</Detail></Error></Fault></IntuitResponse>"
    ).encode()


class QboJSONResponse(Response):
    media_type = "application/json;charset=UTF-8"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def envelope(name: str, entity: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    return {name: entity, "time": answer_time(now)}
