"""Stripe's lists and searches: newest first, ``limit``, ``starting_after``/``ending_before`` cursors, ``created``
filters, and the search query language for PaymentIntents.

A list answers ``{"object": "list", "data": [...], "has_more": ..., "url": "/v1/..."}``; a search answers
``{"object": "search_result", "data": [...], "has_more": ..., "next_page": ..., "url": ...}``.

Search queries support the clauses flexbill needs: ``metadata['key']:'value'``, ``status:'succeeded'``,
``customer:'cus_...'``, ``currency:'gbp'``, ``amount>1000`` (``>``, ``<``, ``>=``, ``<=``, ``:``), joined by
``AND`` or by ``OR`` (not both, as at Stripe), and a ``-`` before a clause negates it.

>>> query = parse_query("metadata['invoice_id']:'inv_42' AND status:'succeeded'")
>>> [(c.field, c.key, c.operator, c.value) for c in query.clauses], query.joiner
([('metadata', 'invoice_id', ':', 'inv_42'), ('status', None, ':', 'succeeded')], 'AND')
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flexbill.sandbox.stripe.errors import StripeError, invalid_request
from flexbill.sandbox.stripe.model import Record
from flexbill.sandbox.stripe.params import Params

R = TypeVar("R", bound=Record)
Json = dict[str, Any]

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_CREATED_BOUNDS = ("gt", "gte", "lt", "lte")
_CLAUSE = re.compile(
    r"""^(?P<negate>-)?(?P<field>[a-z_]+)(?:\[['"](?P<key>[^'"]+)['"]\])?\s*(?P<op>>=|<=|:|>|<)\s*"""
    r"""(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<bare>[^\s'"]+))$"""
)
SEARCH_FIELDS = ("amount", "created", "currency", "customer", "metadata", "status")


def limit_of(params: Params) -> int:
    limit = params.integer("limit", minimum=1)
    if limit is None:
        return DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise invalid_request(
            f"This value must be less than or equal to {MAX_LIMIT}.", param="limit", code="parameter_invalid_integer"
        )
    return limit


def created_filter(params: Params) -> Callable[[int], bool]:
    """``created=ts`` or ``created[gte]=ts`` (and ``gt``, ``lt``, ``lte``): a test on a ``created`` value."""
    if "created" not in params:
        return lambda created: True
    bounds = params.hash("created") if not isinstance(params.raw.get("created"), str) else None
    if bounds is None:
        exact = params.integer("created")
        return lambda created: created == exact
    bounds.only(*_CREATED_BOUNDS)
    gt, gte, lt, lte = (bounds.integer(name) for name in _CREATED_BOUNDS)
    return lambda created: (
        (gt is None or created > gt)
        and (gte is None or created >= gte)
        and (lt is None or created < lt)
        and (lte is None or created <= lte)
    )


def newest_first(records: Sequence[R]) -> list[R]:
    return sorted(records, key=lambda record: (record.created, record.seq), reverse=True)


def paginate(
    records: Sequence[R],
    params: Params,
    url: str,
    render: Callable[[R], Json],
    kind: str,
) -> Json:
    """One page of a Stripe list, newest first; ``params`` holds ``limit``, ``starting_after``, ``ending_before``
    and ``created`` (other filters are the caller's)."""
    limit = limit_of(params)
    keep = created_filter(params)
    ordered = [record for record in newest_first(records) if keep(record.created)]
    starting_after = params.string("starting_after")
    ending_before = params.string("ending_before")
    if starting_after is not None and ending_before is not None:
        raise invalid_request("You may only specify one of these parameters: starting_after, ending_before.")
    if starting_after is not None:
        index = _position(ordered, records, starting_after, kind, "starting_after")
        window = ordered[index + 1 :]
        page, has_more = window[:limit], len(window) > limit
    elif ending_before is not None:
        index = _position(ordered, records, ending_before, kind, "ending_before")
        window = ordered[:index]
        page, has_more = window[-limit:], len(window) > limit
    else:
        page, has_more = ordered[:limit], len(ordered) > limit
    return {"object": "list", "data": [render(record) for record in page], "has_more": has_more, "url": url}


def _position(ordered: list[R], records: Sequence[R], cursor: str, kind: str, param: str) -> int:
    for index, record in enumerate(ordered):
        if record.id == cursor:
            return index
    if any(record.id == cursor for record in records):
        return len(ordered)  # filtered out: nothing after it in this view
    raise StripeError(404, "invalid_request_error", f"No such {kind}: '{cursor}'", code="resource_missing", param=param)


@dataclass(frozen=True)
class Clause:
    field: str
    key: str | None
    operator: str
    value: str
    negate: bool = False

    def test(self, fields: Json) -> bool:
        if self.field == "metadata":
            actual: Any = (fields.get("metadata") or {}).get(self.key or "")
        else:
            actual = fields.get(self.field)
        if self.operator == ":":
            result = actual is not None and str(actual) == self.value
        else:
            if not isinstance(actual, int) or not re.fullmatch(r"-?\d+", self.value):
                result = False
            else:
                number = int(self.value)
                result = {
                    ">": actual > number,
                    "<": actual < number,
                    ">=": actual >= number,
                    "<=": actual <= number,
                }[self.operator]
        return not result if self.negate else result


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    joiner: str

    def matches(self, fields: Json) -> bool:
        results = (clause.test(fields) for clause in self.clauses)
        return all(results) if self.joiner == "AND" else any(results)


def parse_query(text: str) -> Query:
    """Parse a search query; a clause the sandbox cannot read is refused with the reason."""
    parts = re.split(r"\s+(AND|OR)\s+", text.strip(), flags=re.IGNORECASE)
    terms, joiners = parts[0::2], {joiner.upper() for joiner in parts[1::2]}
    if len(joiners) > 1:
        raise invalid_request(
            "Search queries cannot mix AND and OR; use one of them throughout the query.", param="query"
        )
    clauses: list[Clause] = []
    for term in terms:
        match = _CLAUSE.match(term.strip())
        if match is None:
            raise invalid_request(
                f"Invalid search query: could not read the clause {term.strip()!r}; write clauses like "
                "metadata['key']:'value' or status:'succeeded'.",
                param="query",
            )
        field = match.group("field")
        if field not in SEARCH_FIELDS:
            raise invalid_request(
                f"Invalid search query: {field!r} is not a searchable field; use one of {', '.join(SEARCH_FIELDS)}.",
                param="query",
            )
        if (field == "metadata") != (match.group("key") is not None):
            raise invalid_request(
                "Invalid search query: only metadata takes a key, as in metadata['invoice_id']:'...'.", param="query"
            )
        value = next(v for v in (match.group("single"), match.group("double"), match.group("bare")) if v is not None)
        clauses.append(Clause(field, match.group("key"), match.group("op"), value, bool(match.group("negate"))))
    return Query(tuple(clauses), joiners.pop() if joiners else "AND")


def search(
    records: Sequence[R], params: Params, url: str, fields: Callable[[R], Json], render: Callable[[R], Json]
) -> Json:
    """One page of search results (newest first); ``page`` is the opaque cursor from ``next_page``."""
    query = parse_query(params.required_string("query", max_length=10_000))
    limit = limit_of(params)
    page_token = params.string("page")
    offset = _offset(page_token) if page_token is not None else 0
    found = [record for record in newest_first(records) if query.matches(fields(record))]
    page = found[offset : offset + limit]
    has_more = len(found) > offset + limit
    return {
        "object": "search_result",
        "data": [render(record) for record in page],
        "has_more": has_more,
        "next_page": _page_token(offset + limit) if has_more else None,
        "url": url,
    }


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode("ascii")


def _offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except ValueError:
        text = ""
    if not re.fullmatch(r"offset:\d+", text):
        raise invalid_request(f"Invalid page: {token!r} is not a page cursor from next_page.", param="page")
    return int(text.split(":")[1])
