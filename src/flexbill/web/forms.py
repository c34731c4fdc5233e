"""Reading HTML forms into the same commands the JSON API takes, and its errors into words: a form and an API call
that carry the same values meet the same rules and the same messages."""

from __future__ import annotations

from collections.abc import Mapping
from types import NoneType
from typing import Any, TypeVar, get_args

from fastapi import Request
from pydantic import BaseModel, ValidationError

from flexbill.errors import FlexbillError, InvalidInput

CommandT = TypeVar("CommandT", bound=BaseModel)


async def posted(request: Request) -> dict[str, str]:
    """A posted form's text fields, trimmed, as a dependency (files are read by the page that takes them)."""
    form = await request.form()
    return {name: value.strip() for name, value in form.multi_items() if isinstance(value, str)}


def parse_form(command: type[CommandT], values: Mapping[str, Any]) -> CommandT:
    """The command built from a form's values (blank fields left out, so they take their defaults), or
    InvalidInput naming the first wrong field, with every problem in the message."""
    given = {name: value for name, value in values.items() if value not in ("", None)}
    return _validated(command, given)


def parse_changes(command: type[CommandT], values: Mapping[str, Any]) -> CommandT:
    """A partial update (the API's PATCH) from an edit form that shows every field: a field left blank is
    cleared (``None``, or the field's default where it takes no ``None``, e.g. an empty address), since the form
    showed its value and the person removed it."""
    given = {name: _cleared(command, name) if value in ("", None) else value for name, value in values.items()}
    return _validated(command, given)


def _cleared(command: type[BaseModel], name: str) -> Any:
    field = command.model_fields.get(name)
    if field is None or NoneType in get_args(field.annotation) or field.is_required():
        return None  # an unknown or required field: the command's own error names it
    return field.get_default(call_default_factory=True)


class InvalidForm(InvalidInput):
    """A form's values broke the command's rules: each problem with its field, so a page can show each one beside
    the input it is about."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        message = "; ".join(f"{field}: {text}" if field else text for field, text in problems)
        super().__init__(message, field=problems[0][0] if problems else None)
        self.problems = problems


def _validated(command: type[CommandT], given: Mapping[str, Any]) -> CommandT:
    try:
        return command.model_validate(given)
    except ValidationError as invalid:
        raise InvalidForm([describe_error(item) for item in invalid.errors()]) from None


def form_errors(error: FlexbillError, labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """What a refused form shows: one message for the top of the page, with each problem under its field's
    label, and each field's own message for beside its input."""
    problems = error.problems if isinstance(error, InvalidForm) else [(error.field, error.message)]
    beside: dict[str, str] = {}
    for field, text in problems:
        if field and field not in beside:
            beside[field] = text
    summary = "; ".join(f"{labels.get(field, field)}: {text}" if field else text for field, text in problems)
    return summary[:1].upper() + summary[1:], beside


_DATE_ERRORS = frozenset({"date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact", "date_type"})


def describe_error(item: Mapping[str, Any]) -> tuple[str | None, str]:
    """The field (wire name, dotted) and the message of one of pydantic's errors, in words a caller can act on."""
    raw_location = tuple(item.get("loc", ()))
    in_body = bool(raw_location) and raw_location[0] == "body"
    location = [str(part) for part in raw_location if part not in ("body", "query", "path")]
    kind = item.get("type")
    field = ".".join(location) or None
    text = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
    if kind == "json_invalid":
        detail = (item.get("ctx") or {}).get("error")
        return None, "the request body is not valid JSON" + (f" ({detail})" if detail else "")
    if in_body and field is None:
        if kind == "missing":
            return None, "the request needs a JSON object as its body"
        if kind in ("model_attributes_type", "dict_type"):
            return None, "the request body must be a JSON object"
    if kind == "missing":
        text = "is required"
    elif kind == "extra_forbidden":
        text = "is not a field of this request"
    elif kind in _DATE_ERRORS:
        value = item.get("input")
        shown = f"{value!r} is not a date" if value is not None else "a date is required"
        detail = (item.get("ctx") or {}).get("error")
        text = f"{shown}: dates are YYYY-MM-DD, such as 2026-11-01" + (f" ({detail})" if detail else "")
    return field, text
