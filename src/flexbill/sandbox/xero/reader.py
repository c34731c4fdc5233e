"""Reading request objects the way Xero does: field names in any case, numbers as numbers or numeric strings.

Every problem is noted in a shared list rather than raised, because Xero reports all of an element's problems
at once (a client fixing one error at a time would need many round trips).

>>> errors: list[str] = []
>>> fields = Fields({"unitamount": "12.50", "Quantity": "x"}, errors)
>>> fields.number("UnitAmount"), fields.number("Quantity"), errors
(Decimal('12.50'), None, ['Quantity must be a number'])
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from flexbill.sandbox.xero.wire import Json, parse_date, parse_decimal

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: object) -> bool:
    return isinstance(value, str) and _GUID.match(value.strip()) is not None


def normal_id(value: str) -> str:
    """Ids are compared without regard to case or braces."""
    return str(uuid.UUID(value.strip().strip("{}")))


class Fields:
    """One request object, read case-insensitively (Xero's JSON reader ignores the case of field names)."""

    def __init__(self, data: Mapping[str, Json], errors: list[str]) -> None:
        self.raw = data
        self.errors = errors
        self._keys = {str(key).lower(): key for key in data}

    def has(self, name: str) -> bool:
        return name.lower() in self._keys

    def get(self, name: str) -> Json:
        key = self._keys.get(name.lower())
        return None if key is None else self.raw[key]

    def text(self, name: str, *, max_length: int | None = None, label: str | None = None) -> str | None:
        """A string field, trimmed; ``None`` when absent or null. Numbers are accepted as text (``"123"``)."""
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.errors.append(f"{label or name} must be text")
            return None
        value = value.strip()
        if max_length is not None and len(value) > max_length:
            self.errors.append(f"{label or name} must not be more than {max_length} characters long")
            return None
        return value

    def guid(self, name: str) -> str | None:
        value = self.text(name)
        if not value:
            return None
        if not is_guid(value):
            self.errors.append(f"{name} '{value}' is not a valid GUID")
            return None
        return normal_id(value)

    def number(self, name: str, *, label: str | None = None) -> Decimal | None:
        value = self.get(name)
        if value is None or value == "":
            return None
        try:
            return parse_decimal(value)
        except ValueError:
            self.errors.append(f"{label or name} must be a number")
            return None

    def day(self, name: str, *, label: str | None = None) -> date | None:
        value = self.get(name)
        if value is None or value == "":
            return None
        try:
            return parse_date(value)
        except ValueError:
            self.errors.append(f"{label or name} must be a date (YYYY-MM-DD)")
            return None

    def flag(self, name: str) -> bool | None:
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.errors.append(f"{name} must be true or false")
        return None

    def obj(self, name: str) -> Fields | None:
        value = self.get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.errors.append(f"{name} must be an object")
            return None
        return Fields(value, self.errors)

    def items(self, name: str) -> list[Json] | None:
        value = self.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.errors.append(f"{name} must be a list")
            return None
        return value

    def only(self, *names: str) -> bool:
        """True when the object holds no field but ``names`` (e.g. an update that only marks an invoice sent)."""
        allowed = {name.lower() for name in names}
        return all(key in allowed for key in self._keys)
