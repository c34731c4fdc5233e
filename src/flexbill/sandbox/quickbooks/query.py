"""QuickBooks' query language, the subset the API documents.

``SELECT * | count(*) | Field, ... FROM Entity [WHERE cond [AND cond ...]] [ORDERBY Field [ASC|DESC], ...]
[STARTPOSITION n] [MAXRESULTS n]``, where a condition is ``Field op value`` with ``=, <, >, <=, >=, !=``,
``Field IN (v, ...)`` or ``Field LIKE '%text%'`` (``%`` is the only wildcard). Keywords and entity names are
matched without regard to case; so are string values, as in QuickBooks. Fields are the entity's top-level
fields, a reference by its name (``CustomerRef`` compares its ``value``), and ``MetaData.CreateTime`` /
``MetaData.LastUpdatedTime``. There is no OR, no JOIN, no GROUP BY, no parentheses around conditions (a
``QueryParserError``, code 4000), and custom fields and lines cannot be filtered on (``QueryValidationError``,
4001), as in QuickBooks.

Customers, vendors, employees, items, accounts, departments and tax codes that are inactive are left out unless
the query filters on ``Active``. ``STARTPOSITION`` is 1-based; ``MAXRESULTS`` defaults to 100 and anything above
1,000 is cut to 1,000.

>>> parse("select count(*) from Invoice where CustomerRef = '58' and TotalAmt > '10.00'").count
True
>>> parse("SELECT * FROM Customer WHERE DisplayName LIKE '%acme%' ORDERBY DisplayName DESC MAXRESULTS 5").order
[('DisplayName', True)]
>>> parse("select * from Customer where Id = '1' or Id = '2'")
Traceback (most recent call last):
...
flexbill.sandbox.quickbooks.wire.QboError: 4000 Error parsing query: QueryParserError: Encountered " OR "or "" \
at line 1, column 39. OR is not supported: run one query per alternative, or use IN (...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flexbill.sandbox.quickbooks.wire import QboError, error, parse_instant

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000
QUERYABLE = (
    "Customer", "Invoice", "CreditMemo", "Payment", "RefundReceipt", "Item", "Account", "TaxCode", "TaxRate",
    "Department", "Vendor", "Employee", "CompanyInfo", "Preferences",
)  # fmt: skip
ACTIVE_BY_DEFAULT = ("Customer", "Vendor", "Employee", "Item", "Account", "Department", "TaxCode")
NOT_QUERYABLE = ("CustomField", "Line", "TxnTaxDetail", "LinkedTxn")

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),*])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_UNSUPPORTED = {"OR", "JOIN", "GROUP", "HAVING", "UNION", "NOT", "INNER", "LEFT", "RIGHT"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # =, <, >, <=, >=, !=, IN, LIKE
    values: tuple[str | Decimal | bool, ...]


@dataclass
class Query:
    entity: str
    count: bool = False
    fields: list[str] | None = None  # None: every field
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def parser_error(detail: str) -> QboError:
    return error("4000", "Error parsing query", f"QueryParserError: {detail}")


def validation_error(detail: str) -> QboError:
    return error("4001", "Invalid query", f"QueryValidationError: {detail}")


def _tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    text = text.rstrip().rstrip(";")
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip() == "":
                break
            column = position + 1 + (len(text[position:]) - len(text[position:].lstrip()))
            raise parser_error(f'Encountered "{text[column - 1]}" at line 1, column {column}.')
        kind = match.lastgroup or "word"
        start = match.start(kind)
        tokens.append(Token(kind, match.group(kind), start + 1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        for token in self.tokens:
            if token.kind == "word" and token.upper in _UNSUPPORTED:
                hint = (
                    " OR is not supported: run one query per alternative, or use IN (...)."
                    if token.upper == "OR"
                    else ""
                )
                raise parser_error(
                    f'Encountered " {token.upper} "{token.text} "" at line 1, column {token.column}.{hint}'
                )

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise parser_error('Encountered "<EOF>": the query ends too early.')
        self.index += 1
        return token

    def keyword(self, word: str) -> None:
        token = self.take()
        if token.kind != "word" or token.upper != word:
            raise parser_error(f'Encountered "{token.text}" at line 1, column {token.column}. Was expecting: {word}')

    def at_punct(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.text == text

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.upper == word

    def value(self) -> str | Decimal | bool:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("\\'", "'").replace("''", "'")
        if token.kind == "number":
            return Decimal(token.text)
        if token.kind == "word" and token.upper in ("TRUE", "FALSE"):
            return token.upper == "TRUE"
        raise parser_error(f'Encountered "{token.text}" at line 1, column {token.column}. Was expecting a value')

    def integer(self, what: str) -> int:
        token = self.take()
        if token.kind != "number" or "." in token.text or token.text.startswith("-"):
            raise parser_error(f'Encountered "{token.text}" at line 1, column {token.column}. {what} needs a number')
        return int(token.text)

    def parse(self) -> Query:
        self.keyword("SELECT")
        count = False
        fields: list[str] | None = None
        token = self.take()
        if token.kind == "punct" and token.text == "*":
            pass
        elif token.kind == "word" and token.upper == "COUNT":
            for expected in ("(", "*", ")"):
                got = self.take()
                if got.text != expected:
                    raise parser_error(
                        f'Encountered "{got.text}" at line 1, column {got.column}. Was expecting {expected}'
                    )
            count = True
        elif token.kind == "word":
            fields = [token.text]
            while self.at_punct(","):
                self.take()
                fields.append(self.field())
        else:
            raise parser_error(f'Encountered "{token.text}" at line 1, column {token.column}.')
        self.keyword("FROM")
        entity_token = self.take()
        entity = next((name for name in QUERYABLE if name.upper() == entity_token.upper), None)
        if entity_token.kind != "word" or entity is None:
            raise validation_error(f"{entity_token.text} is not a valid entity to query")
        query = Query(entity, count=count, fields=fields)
        if self.at_keyword("WHERE"):
            self.take()
            query.where.append(self.condition())
            while self.at_keyword("AND"):
                self.take()
                query.where.append(self.condition())
        if self.at_keyword("ORDERBY") or self.at_keyword("ORDER"):
            if self.take().upper == "ORDER":
                self.keyword("BY")
            while True:
                name = self.field()
                descending = False
                if self.at_keyword("DESC") or self.at_keyword("ASC"):
                    descending = self.take().upper == "DESC"
                query.order.append((name, descending))
                nxt = self.peek()
                if nxt is None or nxt.text != ",":
                    break
                self.take()
        if self.at_keyword("STARTPOSITION"):
            self.take()
            query.start = max(1, self.integer("STARTPOSITION"))
        if self.at_keyword("MAXRESULTS"):
            self.take()
            query.max_results = min(MAX_RESULTS, max(0, self.integer("MAXRESULTS")))
        rest = self.peek()
        if rest is not None:
            raise parser_error(f'Encountered "{rest.text}" at line 1, column {rest.column}.')
        return query

    def field(self) -> str:
        token = self.take()
        if token.kind != "word":
            raise parser_error(f'Encountered "{token.text}" at line 1, column {token.column}. Was expecting a field')
        return token.text

    def condition(self) -> Condition:
        if self.at_punct("("):
            token = self.take()
            raise parser_error(f'Encountered "(" at line 1, column {token.column}: conditions cannot be grouped')
        name = self.field()
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            return Condition(name, op, (self.value(),))
        if token.kind == "word" and token.upper == "IN":
            opening = self.take()
            if opening.text != "(":
                raise parser_error(f'Encountered "{opening.text}" at line 1, column {opening.column}. Was expecting (')
            values = [self.value()]
            while True:
                nxt = self.take()
                if nxt.text == ")":
                    break
                if nxt.text != ",":
                    raise parser_error(f'Encountered "{nxt.text}" at line 1, column {nxt.column}.')
                values.append(self.value())
            return Condition(name, "IN", tuple(values))
        if token.kind == "word" and token.upper == "LIKE":
            pattern = self.value()
            if not isinstance(pattern, str):
                raise parser_error(f"LIKE needs a quoted pattern (column {token.column})")
            return Condition(name, "LIKE", (pattern,))
        raise parser_error(f'Encountered "{token.text}" at line 1, column {token.column}. Was expecting an operator')


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise parser_error("the query is empty")
    return _Parser(text).parse()


# -- running a query -------------------------------------------------------------------------------------------


def _lookup(entity: dict[str, Any], name: str) -> Any:
    value: Any = entity
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _comparable(actual: Any, wanted: str | Decimal | bool, name: str) -> tuple[Any, Any] | None:
    if actual is None:
        return None
    if name.lower().startswith("metadata."):
        try:
            return parse_instant(str(actual)), parse_instant(str(wanted))
        except ValueError:
            raise validation_error(f"{wanted!r} is not a date-time for {name}") from None
    if isinstance(actual, bool):
        if isinstance(wanted, bool):
            return actual, wanted
        return actual, str(wanted).lower() == "true"
    if isinstance(actual, Decimal | int) or name.lower() == "id" or name.endswith("Ref"):
        try:
            return Decimal(str(actual)), Decimal(str(wanted))
        except InvalidOperation:
            return str(actual).casefold(), str(wanted).casefold()
    return str(actual).casefold(), str(wanted).casefold()


def _like(actual: Any, pattern: str) -> bool:
    if actual is None:
        return False
    regex = "^" + ".*".join(re.escape(part) for part in pattern.casefold().split("%")) + "$"
    return re.match(regex, str(actual).casefold(), re.DOTALL) is not None


def _matches(entity: dict[str, Any], condition: Condition) -> bool:
    actual = _lookup(entity, condition.field)
    if condition.op == "LIKE":
        return _like(actual, str(condition.values[0]))
    if condition.op == "IN":
        return any(_compare(actual, "=", value, condition.field) for value in condition.values)
    return _compare(actual, condition.op, condition.values[0], condition.field)


def _compare(actual: Any, op: str, wanted: str | Decimal | bool, name: str) -> bool:
    pair = _comparable(actual, wanted, name)
    if pair is None:
        return False
    left, right = pair
    try:
        return bool(
            {
                "=": left == right,
                "!=": left != right,
                "<": left < right,
                ">": left > right,
                "<=": left <= right,
                ">=": left >= right,
            }[op]
        )
    except TypeError:
        return False


def check_fields(query: Query, known: set[str] | None) -> None:
    """Refuse filtering or sorting on what QuickBooks cannot query (custom fields, lines) or does not know."""
    names = [c.field for c in query.where] + [name for name, _ in query.order]
    for name in names:
        top = name.split(".")[0]
        if top in NOT_QUERYABLE:
            raise validation_error(f"property '{name}' is not queryable")
        if top.lower() == "metadata":
            if name.split(".")[-1] not in ("CreateTime", "LastUpdatedTime"):
                raise validation_error(f"property '{name}' is not queryable")
            continue
        if known is not None and top not in known:
            raise validation_error(f"property '{name}' is not queryable on {query.entity}")


def run(query: Query, entities: list[dict[str, Any]], *, known: set[str] | None = None) -> dict[str, Any]:
    """The ``QueryResponse`` of a query over all the records of its entity."""
    check_fields(query, known)
    chosen = [e for e in entities if all(_matches(e, condition) for condition in query.where)]
    if query.entity in ACTIVE_BY_DEFAULT and not any(c.field.lower() == "active" for c in query.where):
        chosen = [e for e in chosen if e.get("Active", True) is not False]
    if query.count:
        return {"totalCount": len(chosen)}
    chosen.sort(key=lambda e: int(e["Id"]) if str(e.get("Id", "")).isdigit() else 0)
    for name, descending in reversed(query.order):
        present = [e for e in chosen if _lookup(e, name) is not None]
        absent = [e for e in chosen if _lookup(e, name) is None]
        present.sort(key=lambda e: _sort_key(_lookup(e, name), name), reverse=descending)
        chosen = present + absent
    page = chosen[query.start - 1 : query.start - 1 + query.max_results]
    if not page:
        return {}
    if query.fields is not None:
        wanted = {name.lower() for name in query.fields} | {"id", "synctoken", "metadata", "domain"}
        page = [{**{k: v for k, v in e.items() if k.lower() in wanted}, "sparse": True} for e in page]
    return {query.entity: page, "startPosition": query.start, "maxResults": len(page)}


def _sort_key(value: Any, name: str) -> Any:
    if name.lower().startswith("metadata."):
        return parse_instant(str(value))
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if name.lower() == "id" and str(value).isdigit():
        return Decimal(str(value))
    return str(value).casefold()
