"""The errors a use case raises. The web and CLI edges turn them into 4xx answers and messages.

Every error names what is wrong and, where it is about one field, which field (``field`` uses the wire names,
with dots and indexes for nested ones, e.g. ``components.0.rate``).
"""

from __future__ import annotations


class FlexbillError(Exception):
    """Base of the errors that are the caller's to fix."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(FlexbillError):
    """The request itself is wrong: a value out of range, a rule broken, a date before the lock date."""

    status_code = 422


class NotFound(FlexbillError):
    status_code = 404

    def __init__(self, resource: str, identifier: object, *, field: str | None = None) -> None:
        super().__init__(f"{resource} {identifier} does not exist", field=field)


class Conflict(FlexbillError):
    """The request is well formed but the record's state forbids it (voiding a paid invoice, a duplicate code)."""

    status_code = 409
