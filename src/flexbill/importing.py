"""Import customers, memberships and one-off fees from CSV files: every row, or none.

A file is checked row by row through the very use cases the API calls (``create_customer``, ``create_membership``,
``create_fee``), so an imported row obeys exactly the rules of an API request. Rows name other records by human
keys (a location's code, a plan's name, a customer's email) instead of ids. Every row is checked even after a bad
one, each in its own savepoint, and every problem is collected with its row (as a spreadsheet numbers it: the
header is row 1), its column and a message. If there is any problem, everything the file wrote is rolled back and
:class:`ImportRejected` carries the whole list. The columns are documented in ``docs/import.md``.

The caller owns the transaction: on success the rows are flushed, not committed.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from flexbill.catalog.service import get_location_by_code
from flexbill.catalog.store import PlanRow, RevenueAccountRow, TaxRateRow
from flexbill.customers import service as customers
from flexbill.customers.store import CustomerRow
from flexbill.errors import Conflict, FlexbillError, InvalidInput, NotFound
from flexbill.validation import Command


class ImportKind(StrEnum):
    customers = "customers"
    memberships = "memberships"
    fees = "fees"


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One thing wrong with a file. ``row`` is as a spreadsheet shows it (the header is row 1); ``None`` when the
    problem is the whole file (it is not UTF-8, it is empty). ``column`` is ``None`` when no single column is at
    fault."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = "file" if self.row is None else f"row {self.row}"
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


_SHOWN = 5  # problems spelled out in the message; ``problems`` has them all


class ImportRejected(FlexbillError):
    """The file has at least one bad row, so nothing of it was imported. ``problems`` lists every one."""

    status_code = 422

    def __init__(self, kind: ImportKind, source: str, problems: Sequence[ImportProblem]) -> None:
        self.kind = kind
        self.source = source
        self.problems = tuple(problems)
        rows = {p.row for p in self.problems}
        shown = "; ".join(str(p) for p in self.problems[:_SHOWN])
        more = f"; and {len(self.problems) - _SHOWN} more" if len(self.problems) > _SHOWN else ""
        super().__init__(
            f"nothing was imported: {_plural(len(self.problems), 'problem')} in {_plural(len(rows), 'row')} "
            f"of {source}: {shown}{more}"
        )


@dataclass(frozen=True, slots=True)
class ImportReport:
    kind: ImportKind
    source: str
    ids: tuple[uuid.UUID, ...]  # of the records created, in the order of the file's rows

    @property
    def count(self) -> int:
        return len(self.ids)

    def summary(self) -> str:
        """``"Imported 12 customers from spaces.csv"``."""
        return f"Imported {_plural(self.count, _NOUNS[self.kind])} from {self.source}"


Source = Path | str | bytes
"""A file to read (``Path``), or the CSV itself (``str`` text or UTF-8 ``bytes``)."""


def import_customers(session: Session, source: Source) -> ImportReport:
    return import_file(session, ImportKind.customers, source)


def import_memberships(session: Session, source: Source) -> ImportReport:
    return import_file(session, ImportKind.memberships, source)


def import_fees(session: Session, source: Source) -> ImportReport:
    return import_file(session, ImportKind.fees, source)


def import_file(session: Session, kind: ImportKind | str, source: Source) -> ImportReport:
    """Create one record per row of ``source``, or raise :class:`ImportRejected` having written nothing."""
    if kind not in {member.value for member in ImportKind}:
        raise InvalidInput(f"{kind!r} is not a kind of import: {', '.join(ImportKind)}", field="kind")
    kind = ImportKind(kind)
    spec = _SPECS[kind]
    name = str(source) if isinstance(source, Path) else "the CSV text"
    problems: list[ImportProblem] = []
    text = _text(source, problems)
    if text is None:
        raise ImportRejected(kind, name, problems)
    records = _records(text, problems)
    header = next(records, None)
    if header is None:
        if not problems:
            problems.append(ImportProblem(None, None, "the file is empty: it needs a header row naming its columns"))
        raise ImportRejected(kind, name, problems)
    columns = _check_header(spec, header[1], problems)
    if problems:
        raise ImportRejected(kind, name, problems)

    ids: list[uuid.UUID] = []
    references = _References(session)
    order = {column: index for index, column in enumerate(columns)}
    outer = session.begin_nested()  # whatever happens below, a rejected file leaves no trace
    try:
        for row_number, cells in records:
            if not any(cell.strip() for cell in cells):
                continue  # a blank row (spreadsheets often leave some at the end)
            if len(cells) != len(columns):
                problems.append(
                    ImportProblem(
                        row_number,
                        None,
                        f"has {_plural(len(cells), 'cell')} but the header has {_plural(len(columns), 'column')}",
                    )
                )
                continue
            values = {column: cell.strip() for column, cell in zip(columns, cells, strict=True) if cell.strip()}
            row_problems, created = _import_row(session, spec, references, values)
            row_problems.sort(key=lambda p: order.get(p.column or "", len(order)))
            problems.extend(ImportProblem(row_number, p.column, p.message) for p in row_problems)
            if created is not None:
                ids.append(created)
    except BaseException:
        outer.rollback()
        raise
    if problems:
        outer.rollback()
        raise ImportRejected(kind, name, problems)
    outer.commit()
    return ImportReport(kind, name, tuple(ids))


# --- reading the file ------------------------------------------------------------------------------------------


def _text(source: Source, problems: list[ImportProblem]) -> str | None:
    if isinstance(source, str):
        return source.removeprefix("\ufeff")
    data = source.read_bytes() if isinstance(source, Path) else source
    try:
        return data.decode("utf-8-sig")  # with or without a byte order mark
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.append(
            ImportProblem(
                None,
                None,
                f"the file is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}); "
                "save it as 'CSV UTF-8' and try again",
            )
        )
        return None


def _records(text: str, problems: list[ImportProblem]) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each CSV record; a record spanning lines (a quoted line break) is one row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    row_number = 0
    while True:
        row_number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problems.append(ImportProblem(row_number, None, f"is not valid CSV: {error}"))
            return
        yield row_number, cells


def _check_header(spec: _Spec, header: list[str], problems: list[ImportProblem]) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    if len(columns) == 1 and ";" in columns[0]:
        problems.append(ImportProblem(1, None, "columns must be separated by commas, not semicolons"))
        return columns
    seen: set[str] = set()
    for position, column in enumerate(columns, start=1):
        if not column:
            problems.append(ImportProblem(1, None, f"column {position} of the header has no name"))
        elif column in seen:
            problems.append(ImportProblem(1, column, "appears twice in the header"))
        elif column not in spec.columns:
            problems.append(
                ImportProblem(1, column, f"is not a column of a {spec.kind} file; the columns are {spec.listing()}")
            )
        seen.add(column)
    for required in spec.required:
        if not set(required) & seen:
            problems.append(ImportProblem(1, " or ".join(required), "is a required column but the header lacks it"))
    return columns


# --- one row ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Problem:
    column: str | None
    message: str


class _CellError(Exception):
    pass


Resolver = Callable[["_References", str], Any]


@dataclass(frozen=True)
class _Reference:
    """A column naming another record (or holding a value to parse) that becomes the command's ``field``."""

    field: str
    resolve: Resolver


@dataclass(frozen=True)
class _Spec:
    kind: ImportKind
    command: type[Command]
    create: Callable[[Session, Any], Any]
    columns: tuple[str, ...]
    required: tuple[tuple[str, ...], ...]  # each: at least one of these columns
    references: Mapping[str, _Reference]

    def listing(self) -> str:
        return ", ".join(self.columns)

    def column_of(self, field_name: str | None, given: Mapping[str, str]) -> str | None:
        """The column a command field (or a use case's error ``field``) came from, for this row."""
        if field_name is None:
            return None
        matches = [c for c, ref in self.references.items() if ref.field == field_name]
        for column in matches:
            if column in given:
                return column
        if matches:
            return matches[0]
        return field_name if field_name in self.columns else None


def _import_row(
    session: Session, spec: _Spec, references: _References, given: dict[str, str]
) -> tuple[list[_Problem], uuid.UUID | None]:
    problems: list[_Problem] = []
    values: dict[str, Any] = {}
    for column, text in given.items():
        reference = spec.references.get(column)
        if reference is None:
            values[column] = text
            continue
        try:
            value = references.resolve(column, reference.resolve, text)
        except _CellError as error:
            problems.append(_Problem(column, str(error)))
            continue
        if reference.field in values and values[reference.field] != value:
            problems.append(_Problem(column, f"names a different record than {_other(spec, reference, column)}"))
            continue
        values[reference.field] = value
    failed = {p.column for p in problems}

    try:
        command = spec.command.model_validate(values)
    except ValidationError as error:
        for item in error.errors():
            location = item.get("loc", ())
            field_name = str(location[0]) if location else None
            at = spec.column_of(field_name, given)
            if at is not None and at in failed:
                continue  # already reported: the cell could not be read
            problems.append(_Problem(at, _pydantic_message(item, at)))
        return problems, None
    if problems:
        return problems, None

    try:
        with session.begin_nested():
            created = spec.create(session, command)
    except FlexbillError as error:
        return [_Problem(spec.column_of(error.field, given), error.message)], None
    except DBAPIError as error:
        return [_Problem(None, f"the database refused the row ({error.orig.__class__.__name__}: {error.orig})")], None
    created_id: uuid.UUID = created.id
    return problems, created_id


def _other(spec: _Spec, reference: _Reference, column: str) -> str:
    others = [c for c, ref in spec.references.items() if ref.field == reference.field and c != column]
    return " and ".join(others) or "another column"


def _pydantic_message(item: Mapping[str, Any], column: str | None) -> str:
    kind = item.get("type")
    if kind == "missing":
        return "is required, but the cell is empty"
    message = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
    if kind in ("literal_error", "enum"):
        message = f"{item.get('input')!r}: {message[0].lower()}{message[1:]}"
    return message


# --- looking up what rows refer to -----------------------------------------------------------------------------


class _References:
    """Resolves human keys to ids, once per distinct value in a file."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._found: dict[tuple[str, str], Any] = {}
        self._missing: dict[tuple[str, str], str] = {}

    def resolve(self, column: str, resolver: Resolver, text: str) -> Any:
        key = (column, text)
        if key not in self._found and key not in self._missing:
            try:
                self._found[key] = resolver(self, text)
            except _CellError as error:
                self._missing[key] = str(error)
            except FlexbillError as error:
                self._missing[key] = error.message
        if key in self._missing:
            raise _CellError(self._missing[key])
        return self._found[key]


def _location(refs: _References, code: str) -> uuid.UUID:
    try:
        return get_location_by_code(refs.session, code).id
    except NotFound:
        raise _CellError(f"no location has the code {code!r}") from None


def _tax_rate(refs: _References, code: str) -> uuid.UUID:
    found = refs.session.scalar(select(TaxRateRow.id).where(TaxRateRow.code == code))
    if found is None:
        raise _CellError(f"no tax rate has the code {code!r}")
    return found


def _revenue_account(refs: _References, code: str) -> uuid.UUID:
    found = refs.session.scalar(select(RevenueAccountRow.id).where(RevenueAccountRow.code == code))
    if found is None:
        raise _CellError(f"no revenue account has the code {code!r}")
    return found


def _plan(refs: _References, name: str) -> uuid.UUID:
    found = list(refs.session.scalars(select(PlanRow.id).where(PlanRow.name == name).limit(2)))
    if not found:
        raise _CellError(f"no plan is named {name!r}")
    if len(found) > 1:
        raise _CellError(f"the plan name {name!r} is ambiguous: several plans have it; rename all but one")
    return found[0]


def _customer_by_email(refs: _References, email: str) -> uuid.UUID:
    found = list(refs.session.scalars(select(CustomerRow.id).where(CustomerRow.email == email).limit(2)))
    if not found:
        raise _CellError(f"no customer has the email {email!r}")
    if len(found) > 1:
        raise _CellError(f"several customers have the email {email!r}; give their customer_id instead")
    return found[0]


def _customer_by_id(refs: _References, text: str) -> uuid.UUID:
    try:
        customer_id = uuid.UUID(text)
    except ValueError:
        raise _CellError(f"{text!r} is not a customer id (a UUID)") from None
    return customers.get_customer(refs.session, customer_id).id


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(_refs: _References, text: str) -> date:
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise _CellError(f"{text!r} is not a date in the form YYYY-MM-DD")


def _create_new_customer(session: Session, command: customers.CustomerFields) -> CustomerRow:
    """Customers are matched by email in later files, so an import never makes a second customer with an email
    that is taken (by an earlier row of the same file, or by importing the same file twice)."""
    taken = session.scalar(select(CustomerRow.id).where(CustomerRow.email == command.email).limit(1))
    if taken is not None:
        raise Conflict(f"a customer with the email {command.email!r} exists already", field="email")
    return customers.create_customer(session, command)


_CUSTOMER = {
    "customer_email": _Reference("customer_id", _customer_by_email),
    "customer_id": _Reference("customer_id", _customer_by_id),
}

_SPECS: dict[ImportKind, _Spec] = {
    ImportKind.customers: _Spec(
        kind=ImportKind.customers,
        command=customers.CustomerFields,
        create=_create_new_customer,
        columns=(
            "name",
            "kind",
            "email",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "tax_number",
            "home_location",
            "tax_rate",
        ),
        required=(("name",), ("email",), ("home_location",)),
        references={
            "home_location": _Reference("home_location_id", _location),
            "tax_rate": _Reference("tax_rate_id", _tax_rate),
        },
    ),
    ImportKind.memberships: _Spec(
        kind=ImportKind.memberships,
        command=customers.NewMembership,
        create=customers.create_membership,
        columns=(
            "customer_email",
            "customer_id",
            "plan",
            "location",
            "start_date",
            "end_date",
            "quantity",
            "price",
            "discount_type",
            "discount_value",
        ),
        required=(("customer_email", "customer_id"), ("plan",), ("location",), ("start_date",)),
        references={
            **_CUSTOMER,
            "plan": _Reference("plan_id", _plan),
            "location": _Reference("location_id", _location),
            "start_date": _Reference("start_date", _date),
            "end_date": _Reference("end_date", _date),
        },
    ),
    ImportKind.fees: _Spec(
        kind=ImportKind.fees,
        command=customers.NewFee,
        create=customers.create_fee,
        columns=(
            "customer_email",
            "customer_id",
            "location",
            "date",
            "description",
            "quantity",
            "unit_price",
            "revenue_account",
            "tax_rate",
            "currency",
        ),
        required=(
            ("customer_email", "customer_id"),
            ("location",),
            ("date",),
            ("description",),
            ("unit_price",),
            ("revenue_account",),
        ),
        references={
            **_CUSTOMER,
            "location": _Reference("location_id", _location),
            "date": _Reference("date", _date),
            "revenue_account": _Reference("revenue_account_id", _revenue_account),
            "tax_rate": _Reference("tax_rate_id", _tax_rate),
        },
    ),
}

_NOUNS = {ImportKind.customers: "customer", ImportKind.memberships: "membership", ImportKind.fees: "fee"}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
