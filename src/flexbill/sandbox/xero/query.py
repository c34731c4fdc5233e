"""Filtering, ordering and paging of list GETs: ``where``, ``order``, ``page``/``pageSize``.

Xero's ``where`` is a .NET Dynamic LINQ expression. The sandbox understands the part of it clients use:
comparisons of a field (dotted for nested ones, like ``Contact.ContactID``) with a string, a number,
``true``/``false``/``null``, ``Guid("...")`` or ``DateTime(2026, 11, 1)``; the operators ``==``, ``!=``,
``<``, ``<=``, ``>``, ``>=``; the string tests ``.Contains("x")``, ``.StartsWith("x")`` and ``.EndsWith("x")``;
joined by ``AND``/``&&``, ``OR``/``||`` and ``NOT``, with parentheses. Text compares without regard to case,
as Xero's database does. Anything else is refused with a 400 that says what was not understood.

>>> match = parse_where('Status=="AUTHORISED" AND (Contact.ContactID==Guid("8f0c3b0e-1f5a-4c8e-9d2e-0f7f3c1d2a4b")'
...                     ' OR Total >= 100)', {"status", "contact.contactid", "total"})
>>> match({"status": "AUTHORISED", "contact.contactid": "x", "total": Decimal("120.00")})
True
>>> parse_where('Status IN ("PAID", "VOIDED")', {"status"})
Traceback (most recent call last):
...
flexbill.sandbox.xero.query.QueryError: Expected an operator (==, !=, <, <=, >, >=) after 'Status' at position 8
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

T = TypeVar("T")
Values = Mapping[str, object]
Predicate = Callable[[Values], bool]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class QueryError(Exception):
    """A ``where``, ``order`` or paging parameter the sandbox cannot honour (Xero answers 400)."""


@dataclass(frozen=True)
class _Guid:
    value: str


_TOKENS = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|<>|&&|\|\||=|>|<)
      | (?P<punct>[(),.])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_ALIASES = {"=": "==", "<>": "!="}  # Dynamic LINQ's other spellings of equality
_METHODS = {"contains", "startswith", "endswith"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKENS.match(text, position)
        if match is None or match.end() == position:
            at = position + len(text[position:]) - len(text[position:].lstrip())
            raise QueryError(f"Unexpected character {text[at]!r} at position {at + 1}")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind), match.start(kind) + 1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, known: set[str]) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.known = known

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise QueryError("The filter ends too early")
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise QueryError(f"Expected '{text}' at position {token.position}, found '{token.text}'")

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.text.upper() in words

    def parse(self) -> Predicate:
        if not self.tokens:
            raise QueryError("The filter is empty")
        predicate = self.expression()
        token = self.peek()
        if token is not None:
            raise QueryError(f"Unexpected '{token.text}' at position {token.position}")
        return predicate

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.is_word("OR", "||"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda values: any(part(values) for part in parts))

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.is_word("AND", "&&"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda values: all(part(values) for part in parts))

    def unary(self) -> Predicate:
        if self.is_word("NOT"):
            self.take()
            inner = self.unary()
            return lambda values: not inner(values)
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        start = self.take()
        if start.kind != "word":
            raise QueryError(f"Expected a field name at position {start.position}, found '{start.text}'")
        path = [start.text]
        while (token := self.peek()) is not None and token.text == ".":
            self.take()
            name = self.take()
            if name.kind != "word":
                raise QueryError(f"Expected a name after '.' at position {name.position}")
            path.append(name.text)
        token = self.peek()
        if token is not None and token.text == "(" and len(path) > 1 and path[-1].lower() in _METHODS:
            method = path.pop().lower()
            field = self.field(path, start)
            self.take()
            argument = self.take()
            if argument.kind != "string":
                raise QueryError(f"{method} takes a string, at position {argument.position}")
            self.expect(")")
            return _method(field, method, _unquote(argument.text))
        field = self.field(path, start)
        operator = self.take() if token is not None else None
        symbol = _ALIASES.get(operator.text, operator.text) if operator else ""
        if operator is None or symbol not in _COMPARISONS:
            where = operator.position if operator else start.position
            raise QueryError(
                f"Expected an operator (==, !=, <, <=, >, >=) after '{'.'.join(path)}' at position {where}"
            )
        value = self.literal()
        return _compare(field, symbol, value)

    def field(self, path: list[str], start: _Token) -> str:
        name = ".".join(path).lower()
        if name not in self.known:
            raise QueryError(f"No property or field '{'.'.join(path)}' exists (at position {start.position})")
        return name

    def literal(self) -> object:
        token = self.take()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            return Decimal(token.text)
        word = token.text.lower()
        if word in ("true", "false"):
            return word == "true"
        if word == "null":
            return None
        if word == "guid":
            self.expect("(")
            argument = self.take()
            self.expect(")")
            text = _unquote(argument.text) if argument.kind == "string" else ""
            if not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", text):
                raise QueryError(f"Guid(...) needs a quoted GUID, at position {argument.position}")
            return _Guid(text.lower())
        if word == "datetime":
            return self.datetime_literal(token)
        raise QueryError(f"Expected a value at position {token.position}, found '{token.text}'")

    def datetime_literal(self, token: _Token) -> datetime:
        self.expect("(")
        parts: list[int] = []
        while True:
            part = self.take()
            if part.kind != "number" or "." in part.text:
                raise QueryError(f"DateTime(...) takes whole numbers, at position {part.position}")
            parts.append(int(part.text))
            separator = self.take()
            if separator.text == ")":
                break
            if separator.text != ",":
                raise QueryError(f"Expected ',' or ')' at position {separator.position}")
        if len(parts) not in (3, 6):
            raise QueryError(f"DateTime(...) takes year, month, day (and hour, minute, second), at {token.position}")
        year, month, day = parts[:3]
        hour, minute, second = parts[3:] if len(parts) == 6 else (0, 0, 0)
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as error:
            raise QueryError(f"DateTime(...) at position {token.position} is not a date: {error}") from None


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _normal(value: object) -> object:
    """Values made comparable: text without case, dates as instants, GUIDs as lower-case text."""
    if isinstance(value, _Guid):
        return value.value
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _compare(field: str, operator: str, literal: object) -> Predicate:
    expected = _normal(literal)

    def check(values: Values) -> bool:
        actual = _normal(values.get(field))
        if operator == "==":
            return actual == expected
        if operator == "!=":
            return actual != expected
        if actual is None or expected is None:
            return False
        if type(actual) is not type(expected):
            raise QueryError(f"Cannot compare {field} with {literal!r}")
        if operator == "<":
            return bool(actual < expected)  # type: ignore[operator]
        if operator == "<=":
            return bool(actual <= expected)  # type: ignore[operator]
        if operator == ">":
            return bool(actual > expected)  # type: ignore[operator]
        return bool(actual >= expected)  # type: ignore[operator]

    return check


def _method(field: str, method: str, argument: str) -> Predicate:
    wanted = argument.casefold()

    def check(values: Values) -> bool:
        actual = values.get(field)
        if not isinstance(actual, str):
            return False
        text = actual.casefold()
        if method == "contains":
            return wanted in text
        if method == "startswith":
            return text.startswith(wanted)
        return text.endswith(wanted)

    return check


def parse_where(text: str, known: set[str]) -> Predicate:
    """A predicate over a record's field values (keys in lower case, dotted for nested fields)."""
    return _Parser(text, known).parse()


def parse_order(text: str, known: set[str]) -> list[tuple[str, bool]]:
    """``"Date DESC, InvoiceNumber"`` -> ``[("date", True), ("invoicenumber", False)]`` (field, descending)."""
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise QueryError(f"Cannot order by '{part.strip()}': use 'Field', 'Field ASC' or 'Field DESC'")
        name = words[0].lower()
        if name not in known:
            raise QueryError(f"No property or field '{words[0]}' exists to order by")
        order.append((name, len(words) == 2 and words[1].upper() == "DESC"))
    return order


def _sort_key(value: object) -> tuple[int, Any]:
    normal = _normal(value)
    if normal is None:
        return (0, 0)
    if isinstance(normal, bool):
        return (1, int(normal))
    return (2, normal)


def apply(
    records: Sequence[T],
    values: Callable[[T], Values],
    *,
    where: str | None,
    order: str | None,
    known: set[str],
) -> list[T]:
    """Filter by ``where`` and sort by ``order`` (default: the order the records were created in)."""
    result = list(records)
    if where:
        predicate = parse_where(where, known)
        result = [record for record in result if predicate(values(record))]
    if order:
        for name, descending in reversed(parse_order(order, known)):
            try:
                result.sort(key=lambda record: _sort_key(values(record).get(name)), reverse=descending)
            except TypeError:
                raise QueryError(f"Cannot order by {name}: its values are not comparable") from None
    return result


def paginate(records: Sequence[T], page: int, page_size: int | None) -> tuple[list[T], dict[str, int]]:
    """One page and Xero's ``pagination`` block. ``pageSize`` above 1,000 is capped at 1,000, as Xero does.

    >>> paginate(list(range(250)), 3, None)[1]
    {'page': 3, 'pageSize': 100, 'pageCount': 3, 'itemCount': 250}
    """
    if page < 1:
        raise QueryError("page must be 1 or more")
    size = DEFAULT_PAGE_SIZE if page_size is None else page_size
    if size < 1:
        raise QueryError("pageSize must be 1 or more")
    size = min(size, MAX_PAGE_SIZE)
    start = (page - 1) * size
    items = list(records[start : start + size])
    return items, {
        "page": page,
        "pageSize": size,
        "pageCount": math.ceil(len(records) / size),
        "itemCount": len(records),
    }
