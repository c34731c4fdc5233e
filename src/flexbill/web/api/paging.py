"""Cursor pagination: items in id order (ids are time-ordered), oldest first unless a list says newest first; the
cursor is the last id returned."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select
from sqlalchemy.orm import Session

from flexbill.errors import InvalidInput
from flexbill.web.api.views import Page

Limit = Annotated[int, Query(ge=1, le=1000, description="How many items per page (default 100).")]
Cursor = Annotated[str | None, Query(description="The next_cursor of the previous page.")]

RowT = TypeVar("RowT")
OutT = TypeVar("OutT")


def paginate(
    session: Session,
    query: Select[Any],
    id_column: Any,
    limit: int,
    cursor: str | None,
    convert: Callable[[Any], OutT] | None = None,
    *,
    convert_page: Callable[[Sequence[Any]], list[OutT]] | None = None,
    newest_first: bool = False,
) -> Page[OutT]:
    """One page of ``query``. ``convert`` turns each row into its JSON shape, or ``convert_page`` the whole page
    at once (when it needs one more query for all the page's rows)."""
    if cursor is not None:
        try:
            after = uuid.UUID(cursor)
        except ValueError:
            raise InvalidInput(f"cursor {cursor!r} is not one this API returned", field="cursor") from None
        query = query.where(id_column < after if newest_first else id_column > after)
    order = id_column.desc() if newest_first else id_column
    rows: Sequence[Any] = session.scalars(query.order_by(order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1].id) if more and rows else None
    if convert_page is not None:
        items = convert_page(rows)
    else:
        assert convert is not None
        items = [convert(row) for row in rows]
    return Page[OutT](items=items, next_cursor=next_cursor)
