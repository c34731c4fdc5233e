"""Input types shared by every use case: decimal strings, currency codes, codes and trimmed names."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, ConfigDict, StringConstraints
from pydantic import BaseModel as _BaseModel

from flexbill.money import quantum

_JSON_KINDS: dict[type, str] = {type(None): "null", dict: "an object", list: "an array"}


def _decimal_from_wire(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError('amounts are decimal strings such as "12.50", not a boolean')
    if isinstance(value, float):
        raise ValueError(f'amounts are decimal strings such as "12.50", not the JSON number {value!r}')
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if not parsed.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return parsed
    if isinstance(value, int | Decimal):
        return value
    kind = _JSON_KINDS.get(type(value), type(value).__name__)
    raise ValueError(f'amounts are decimal strings such as "12.50", not {kind}')


def _bounded(places: int, below: Decimal) -> AfterValidator:
    """At most ``places`` decimal places, and smaller than ``below`` in size. The bounds keep every line, and
    any invoice of a few hundred lines, within the database's NUMERIC(19, 4)."""

    def check(value: Decimal) -> Decimal:
        if abs(value) >= below:  # first: a huge value cannot even be quantized
            raise ValueError(f"{value} is too large: it must be below {below:,f}")
        if value != value.quantize(Decimal(1).scaleb(-places)):
            raise ValueError(f"at most {places} decimal places are allowed, got {value}")
        return value

    return AfterValidator(check)


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


WireDecimal = Annotated[Decimal, BeforeValidator(_decimal_from_wire)]
Price = Annotated[WireDecimal, _bounded(4, Decimal(10) ** 9)]
NonNegativePrice = Annotated[Price, AfterValidator(_not_negative)]
Quantity = Annotated[WireDecimal, _bounded(4, Decimal(10) ** 6), AfterValidator(_positive)]
PositiveAmount = Annotated[WireDecimal, _bounded(4, Decimal(10) ** 12), AfterValidator(_positive)]
Percent = Annotated[WireDecimal, _bounded(4, Decimal(10) ** 9), AfterValidator(_not_negative)]


def _currency(value: str) -> str:
    value = value.strip().upper()
    if len(value) != 3 or not value.isalpha():
        raise ValueError(f"a currency is a 3-letter ISO 4217 code such as GBP, not {value!r}")
    return value


def _timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/London")
    return value


def _country(value: str) -> str:
    value = value.strip().upper()
    if len(value) != 2 or not value.isalpha():
        raise ValueError(f"a country is a 2-letter ISO 3166 code such as GB, not {value!r}")
    return value


_TIMEZONES = frozenset(available_timezones()) | {"UTC"}

Currency = Annotated[str, AfterValidator(_currency)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Country = Annotated[str, AfterValidator(_country)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
_CODE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"{value!r} is not a code: use letters, digits, '.', '_' and '-' only (e.g. LON-1)")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address such as billing@example.com")
    return value


Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), AfterValidator(_code)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320), AfterValidator(_email)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class Command(_BaseModel):
    """Base of every use case's input: unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_places_for_currency(value: Decimal, currency: str) -> bool:
    """Whether ``value`` fits ``currency``'s minor unit (no fractions of a cent in a payment)."""
    return value == value.quantize(quantum(currency))
