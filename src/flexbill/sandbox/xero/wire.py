"""Xero's JSON on the wire: envelopes, MS-JSON dates, exact decimal numbers and error bodies.

Xero writes dates the .NET way, ``"/Date(1552262400000+0000)/"``, next to a readable ``DateString``; amounts are
JSON numbers. The sandbox keeps every amount as a :class:`~decimal.Decimal` and writes it digit for digit, so a
client that parses numbers as decimals reads back exactly the cents the sandbox computed.

>>> ms_date(date(2019, 3, 11))
'/Date(1552262400000+0000)/'
>>> date_string(date(2019, 3, 11))
'2019-03-11T00:00:00'
>>> dumps({"Total": Decimal("115.00"), "Quantity": Decimal("1.0000"), "Name": "Café"})
b'{"Total":115.00,"Quantity":1.0000,"Name":"Caf\\xc3\\xa9"}'
>>> parse_date("/Date(1552262400000+0000)/")
datetime.date(2019, 3, 11)
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from starlette.responses import Response

from flexbill.sandbox.jsonwire import dumps as dumps

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
CENT = Decimal("0.01")
FOUR_PLACES = Decimal("0.0001")
SIX_PLACES = Decimal("0.000001")

Json = Any  # what json.loads returns (with decimals for numbers): dict, list, str, Decimal, int, bool or None


def loads(body: bytes) -> Json:
    """Parse a request body; numbers with a fraction become decimals so no cent is lost on the way in."""
    return json.loads(body, parse_float=Decimal)


class XeroJSONResponse(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return dumps(content)


# -- dates -----------------------------------------------------------------------------------------------------


def _ms(instant: datetime) -> int:
    return (instant.astimezone(UTC) - EPOCH) // ONE_MS


def ms_date(day: date) -> str:
    """A calendar date as Xero writes it: midnight UTC in milliseconds since 1970, with the +0000 offset."""
    return f"/Date({_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))}+0000)/"


def ms_datetime(instant: datetime) -> str:
    """An instant (``UpdatedDateUTC``) as Xero writes it."""
    return f"/Date({_ms(instant)}+0000)/"


def ms_timestamp(instant: datetime) -> str:
    """The envelope's ``DateTimeUTC``: Xero writes it without the offset."""
    return f"/Date({_ms(instant)})/"


def date_string(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def utc_string(instant: datetime) -> str:
    """``UpdatedDateUTCString``-style text: ``2019-03-11T17:58:46Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_date(instant: datetime) -> str:
    """A webhook's ``eventDateUtc``: ``2024-06-21T01:15:39.902`` (UTC, milliseconds, no offset)."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def _from_ms(text: str) -> datetime | None:
    match = _MS_DATE.match(text.strip())
    if match is None:
        return None
    return EPOCH + timedelta(milliseconds=int(match.group(1)))


def parse_date(value: object) -> date:
    """A date from a request: ``2019-03-11``, ``2019-03-11T00:00:00`` or an MS-JSON date echoed back."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("not a date")
    text = value.strip()
    from_ms = _from_ms(text)
    if from_ms is not None:
        return from_ms.date()
    try:
        return date.fromisoformat(text[:10]) if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date") from None


def parse_instant(value: str) -> datetime:
    """An instant from a header or a request: ISO 8601 (no offset means UTC), an HTTP date or an MS-JSON date."""
    text = value.strip()
    from_ms = _from_ms(text)
    if from_ms is not None:
        return from_ms
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"{value!r} is not a date and time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# -- numbers ---------------------------------------------------------------------------------------------------


def parse_decimal(value: object) -> Decimal:
    """A number from a request: a JSON number or a numeric string. Floats never reach here (see :func:`loads`)."""
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    else:
        raise ValueError("not a number")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a number")
    return result


def round_to(value: Decimal, places: Decimal) -> Decimal:
    """Half-up to ``places`` (Xero rounds 2.165 to 2.17 and 2.164 to 2.16)."""
    return value.quantize(places, rounding=ROUND_HALF_UP)


def money(value: Decimal) -> Decimal:
    return round_to(value, CENT)


# -- envelopes and errors --------------------------------------------------------------------------------------


def envelope(
    key: str,
    items: Sequence[Mapping[str, object]],
    *,
    now: datetime,
    provider: str,
    pagination: Mapping[str, int] | None = None,
) -> dict[str, object]:
    """``{"Id", "Status": "OK", "ProviderName", "DateTimeUTC", [pagination], key: [...]}``: every Xero answer."""
    body: dict[str, object] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": provider,
        "DateTimeUTC": ms_timestamp(now),
    }
    if pagination is not None:
        body["pagination"] = dict(pagination)
    body[key] = list(items)
    return body


def validation_error(elements: Iterable[Mapping[str, object]]) -> dict[str, object]:
    """Xero's 400 body for rejected elements, each echoed back with its ``ValidationErrors``."""
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": list(elements),
    }


def api_error(number: int, kind: str, message: str) -> dict[str, object]:
    """A 400 that is not about an element: bad JSON (14, PostDataInvalidException), a bad filter, a bad key."""
    return {"ErrorNumber": number, "Type": kind, "Message": message}


def problem(status: int, title: str, detail: str) -> dict[str, object]:
    """The ProblemDetails-like body Xero's gateway answers 401, 403, 404, 429 and 5xx with."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


def messages(errors: Iterable[str]) -> list[dict[str, str]]:
    return [{"Message": message} for message in errors]
