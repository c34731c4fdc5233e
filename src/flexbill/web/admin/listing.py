"""Lists of the console a page at a time: an offset into a list sorted by name, with links to the pages before and
after that keep the list's search and filters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from sqlalchemy import Select
from sqlalchemy.orm import Session

from flexbill.errors import InvalidInput

PAGE_SIZE = 50
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="How many rows of the list come before the page.")]
Limit = Annotated[int, Query(ge=1, le=200, description="How many rows a page shows.")]


@dataclass(frozen=True, slots=True)
class ListPage:
    rows: list[Any]
    first: int  # the position of the first row shown, from 1
    last: int
    previous: str | None  # the link to the page before, or None on the first page
    next: str | None


def page_of(db: Session, query: Select[Any], request: Request, offset: int, limit: int = PAGE_SIZE) -> ListPage:
    """The rows of ``query`` (already sorted) from ``offset``; one row more is read to know whether a next page
    exists."""
    rows = list(db.scalars(query.offset(offset).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    kept = [(name, value) for name, value in request.query_params.multi_items() if name != "offset"]

    def link(to: int) -> str:
        return request.url.path + "?" + urlencode([*kept, ("offset", str(to))])

    return ListPage(
        rows=rows,
        first=offset + 1 if rows else offset,
        last=offset + len(rows),
        previous=link(max(offset - limit, 0)) if offset > 0 else None,
        next=link(offset + limit) if more else None,
    )


def optional_id(value: str, field: str, what: str) -> uuid.UUID | None:
    """A filter's id from the query string: blank means all; anything else must be an id this console wrote."""
    if not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidInput(f"{value!r} is not one of the {what} offered", field=field) from None


def like(text: str) -> str:
    """A LIKE pattern that finds ``text`` anywhere, its own % and _ taken literally (escape character: backslash)."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
