"""The invoices CSV exports, one row per invoice line: flexbill's own documented columns (docs/api.md), or Xero's
sales invoice import template (its 27 columns, dates day first), split into files Xero can import as they are.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import NamedTuple, TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from flexbill import wire
from flexbill.catalog.store import LocationRow, RevenueAccountRow, TaxRateRow
from flexbill.customers.model import format_address
from flexbill.customers.store import CustomerRow
from flexbill.errors import Conflict, InvalidInput
from flexbill.invoicing.model import HUNDRED, InvoiceStatus
from flexbill.invoicing.service import amount_due
from flexbill.invoicing.store import InvoiceLineRow, InvoiceRow
from flexbill.money import round_money
from flexbill.periods import Period, human_period

_Ts = TypeVarTuple("_Ts")

COLUMNS = (
    "invoice_number", "invoice_id", "status", "issue_date", "due_date", "currency", "location_code",
    "contact_name", "contact_email", "contact_tax_number", "line_number", "description", "quantity", "unit_price",
    "discount_amount", "net_amount", "tax_amount", "gross_amount", "account_code", "tax_rate_code", "tax_rate",
    "period_start", "period_end", "invoice_subtotal", "invoice_tax_total", "invoice_total", "invoice_amount_due",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExportFilter:
    issued_from: date | None = None
    issued_to: date | None = None  # inclusive
    location_id: uuid.UUID | None = None
    status: InvoiceStatus | None = None  # default: every issued invoice that stands (drafts and voided left out)


_ORDER = (InvoiceRow.location_id, InvoiceRow.issue_date, InvoiceRow.number)


def _filtered(query: Select[*_Ts], export: ExportFilter) -> Select[*_Ts]:
    """``query`` narrowed to the invoices the filter asks for."""
    if export.status is not None:
        query = query.where(InvoiceRow.status == export.status.value)
    else:
        query = query.where(InvoiceRow.status.not_in([InvoiceStatus.DRAFT.value, InvoiceStatus.VOIDED.value]))
    if export.issued_from is not None:
        query = query.where(InvoiceRow.issue_date >= export.issued_from)
    if export.issued_to is not None:
        query = query.where(InvoiceRow.issue_date <= export.issued_to)
    if export.location_id is not None:
        query = query.where(InvoiceRow.location_id == export.location_id)
    return query


def invoice_rows(session: Session, export: ExportFilter, batch: int = 500) -> Iterator[list[str]]:
    """The CSV rows, header first, invoices by location, issue date and number; streamed in batches."""
    yield list(COLUMNS)
    codes = {row[0]: row[1] for row in session.execute(select(LocationRow.id, LocationRow.code))}
    query = _filtered(select(InvoiceRow), export).order_by(*_ORDER)
    for invoice in session.scalars(query.execution_options(yield_per=batch)):
        c = invoice.currency
        for position, line in enumerate(invoice.lines, start=1):
            last = wire.last_day(line.period_end_exclusive)
            yield [
                invoice.number or "",
                str(invoice.id),
                invoice.status,
                invoice.issue_date.isoformat(),
                invoice.due_date.isoformat(),
                c,
                codes[invoice.location_id],
                invoice.bill_to_name,
                invoice.bill_to_email,
                invoice.bill_to_tax_number or "",
                str(position),
                line.description,
                wire.number(line.quantity),
                wire.unit_price(line.unit_price, c),
                wire.amount(line.discount_amount, c),
                wire.amount(line.net_amount, c),
                wire.amount(line.tax_amount, c),
                wire.amount(line.gross_amount, c),
                line.account_code,
                line.tax_rate_code,
                wire.number(line.tax_rate_percent),
                line.period_start.isoformat() if line.period_start else "",
                last.isoformat() if last else "",
                wire.amount(invoice.subtotal, c),
                wire.amount(invoice.tax_total, c),
                wire.amount(invoice.total, c),
                wire.amount(amount_due(invoice), c),
            ]


def to_csv_text(rows: Iterator[list[str]]) -> Iterator[str]:
    """Encode rows as CSV text chunks (RFC 4180, CRLF line ends, as spreadsheets and Xero expect)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# --- Xero's sales invoice import template ----------------------------------------------------------------------

XERO_COLUMNS = (
    "*ContactName", "EmailAddress", "POAddressLine1", "POAddressLine2", "POAddressLine3", "POAddressLine4",
    "POCity", "PORegion", "POPostalCode", "POCountry", "*InvoiceNumber", "Reference", "*InvoiceDate", "*DueDate",
    "InventoryItemCode", "*Description", "*Quantity", "*UnitAmount", "Discount", "*AccountCode", "*TaxType",
    "TrackingName1", "TrackingOption1", "TrackingName2", "TrackingOption2", "Currency", "BrandingTheme",
)  # fmt: skip
XERO_INVOICES_PER_FILE = 500  # Xero imports at most this many invoices from one file
XERO_FILE_PREFIX = "xero-invoices"
_UNIT = Decimal("0.0001")  # the finest unit amount Xero keeps


class ExportFormat(StrEnum):
    FLEXBILL = "flexbill"
    XERO = "xero"


class DateOrder(StrEnum):
    """How the file writes dates: Xero reads them in the order of the organisation's region (US: month first)."""

    DMY = "dmy"
    MDY = "mdy"

    def render(self, day: date) -> str:
        """``date(2026, 12, 1)`` -> ``"01/12/2026"`` (dmy) or ``"12/01/2026"`` (mdy)."""
        return f"{day:%d/%m/%Y}" if self is DateOrder.DMY else f"{day:%m/%d/%Y}"


class AmountType(StrEnum):
    """Whether a file's unit amounts include tax. Xero asks once per file, at import, so a file holds one kind:
    the invoices of locations whose prices include tax go in files of their own."""

    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"

    @property
    def choice(self) -> str:
        """What to answer when Xero's import asks about the file's amounts."""
        return f"tax {self.value}"


@dataclass(frozen=True, slots=True)
class XeroCodes:
    """How one location's lines are coded in Xero's import: our revenue account code -> the Xero account code;
    our tax rate code -> the Xero tax rate's display name, which is what the import's TaxType column takes
    (e.g. "20% (VAT on Income)"); and the tracking category and option to tag every line with, if any.

    The mappings must hold every code the exported lines use. A code left out is an error, never a fall back on
    our own code: Xero would refuse the file or, worse, book the line to an account that shares the code.
    """

    accounts: Mapping[str, str]
    tax_types: Mapping[str, str]
    tracking: tuple[str, str] | None = None  # (category name, option), e.g. ("Location", "London Bridge")


XeroCodesFor = Callable[[uuid.UUID], XeroCodes]  # a location's id -> its Xero codes


def default_xero_codes(session: Session) -> XeroCodesFor:
    """Our own account codes and our tax rates' names, the same at every location: what a Xero organisation
    whose chart of accounts and tax rates were set up to match flexbill's catalog expects, and what locations
    without an accounting connection use."""
    accounts = {code: code for code in session.scalars(select(RevenueAccountRow.code))}
    tax_types = dict(session.execute(select(TaxRateRow.code, TaxRateRow.name)).all())
    codes = XeroCodes(accounts=accounts, tax_types=tax_types)
    return lambda _location_id: codes


class MissingXeroCodes(Conflict):
    """Lines use codes that a location's Xero codes do not map. Raised before anything is written, and lists
    every missing code at once, so one round of mapping fixes them all."""

    def __init__(self, missing: Mapping[str, tuple[list[str], list[str]]]) -> None:
        parts = []
        for location, (accounts, tax_rates) in sorted(missing.items()):
            gaps = []
            if accounts:
                gaps.append(f"revenue account{'s' * (len(accounts) > 1)} {', '.join(sorted(accounts))}")
            if tax_rates:
                gaps.append(f"tax rate{'s' * (len(tax_rates) > 1)} {', '.join(sorted(tax_rates))}")
            parts.append(f"location {location}: {' and '.join(gaps)}")
        super().__init__(
            "the Xero codes do not map every code the invoices use, so nothing was exported; "
            f"map these and export again: {'; '.join(parts)}"
        )
        self.missing = missing


@dataclass(frozen=True, slots=True)
class XeroFile:
    name: str
    amount_type: AmountType
    invoices: int


@dataclass(frozen=True, slots=True)
class XeroExport:
    """The files an export makes: per amount type, exclusive first, as many files of at most 500 invoices as it
    takes. Everything in one file when that fits (one amount type, at most 500 invoices); an export that finds
    no invoice is one file with the header only."""

    files: tuple[XeroFile, ...]

    @property
    def single(self) -> bool:
        return len(self.files) == 1


def plan_xero_files(counts: Mapping[AmountType, int], per_file: int = XERO_INVOICES_PER_FILE) -> XeroExport:
    """The files for ``counts`` invoices of each amount type.

    >>> [(f.name, f.invoices) for f in plan_xero_files({AmountType.EXCLUSIVE: 501}).files]
    [('xero-invoices-exclusive-1.csv', 500), ('xero-invoices-exclusive-2.csv', 1)]
    >>> [f.name for f in plan_xero_files({AmountType.INCLUSIVE: 3}).files]
    ['xero-invoices-inclusive.csv']
    """
    parts: list[tuple[AmountType, int]] = []
    for amount_type in AmountType:
        left = counts.get(amount_type, 0)
        while left > 0:
            parts.append((amount_type, min(left, per_file)))
            left -= per_file
    if not parts:
        parts.append((AmountType.EXCLUSIVE, 0))
    if len(parts) == 1:
        (amount_type, invoices), *_ = parts
        return XeroExport((XeroFile(f"{XERO_FILE_PREFIX}-{amount_type.value}.csv", amount_type, invoices),))
    files, numbers = [], defaultdict[AmountType, int](int)
    for amount_type, invoices in parts:
        numbers[amount_type] += 1
        name = f"{XERO_FILE_PREFIX}-{amount_type.value}-{numbers[amount_type]}.csv"
        files.append(XeroFile(name, amount_type, invoices))
    return XeroExport(tuple(files))


def repeatable_reads(session: Session) -> None:
    """Make the session's transaction read one snapshot, so that the files planned from the counts are the
    files written even while bill runs commit. Call it first. (SQLite's read transactions already are.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _xero_invoices(export: ExportFilter) -> Select[InvoiceRow]:
    # Invoices without a number (drafts voided before issue) were never documents; they have nothing to import.
    return _filtered(select(InvoiceRow), export).where(InvoiceRow.number.is_not(None))


def plan_xero_export(session: Session, export: ExportFilter, codes: XeroCodesFor) -> XeroExport:
    """Check that the invoices can be exported to Xero and plan the files, reading only counts and codes.

    Refuses drafts (they have no number yet, and Xero's import makes one invoice of all the rows that share a
    number) and lines whose codes ``codes`` does not map (every missing code listed).
    """
    if export.status is InvoiceStatus.DRAFT:
        raise InvalidInput(
            "drafts cannot be exported for Xero: they have no invoice number yet, and Xero's import makes one "
            "invoice of the rows that share a number; issue them first",
            field="status",
        )
    invoices = (
        _xero_invoices(export)
        .with_only_columns(InvoiceRow.id, InvoiceRow.location_id, InvoiceRow.prices_include_tax)
        .subquery()
    )
    used = session.execute(
        select(invoices.c.location_id, InvoiceLineRow.account_code, InvoiceLineRow.tax_rate_code)
        .join(InvoiceLineRow, InvoiceLineRow.invoice_id == invoices.c.id)
        .distinct()
    )
    location_codes = dict(session.execute(select(LocationRow.id, LocationRow.code)).all())
    resolved: dict[uuid.UUID, XeroCodes] = {}
    missing: dict[str, tuple[list[str], list[str]]] = {}
    for location_id, account_code, tax_rate_code in used:
        if location_id not in resolved:
            resolved[location_id] = codes(location_id)
        mapped = resolved[location_id]
        accounts, tax_rates = missing.setdefault(location_codes[location_id], ([], []))
        if account_code not in mapped.accounts and account_code not in accounts:
            accounts.append(account_code)
        if tax_rate_code not in mapped.tax_types and tax_rate_code not in tax_rates:
            tax_rates.append(tax_rate_code)
    gaps = {location: lists for location, lists in missing.items() if lists[0] or lists[1]}
    if gaps:
        raise MissingXeroCodes(gaps)
    counts = session.execute(
        select(invoices.c.prices_include_tax, func.count()).group_by(invoices.c.prices_include_tax)
    ).all()
    return plan_xero_files({AmountType.INCLUSIVE if inclusive else AmountType.EXCLUSIVE: n for inclusive, n in counts})


def xero_files(
    session: Session,
    export: ExportFilter,
    plan: XeroExport,
    codes: XeroCodesFor,
    date_order: DateOrder = DateOrder.DMY,
    batch: int = 500,
) -> Iterator[tuple[XeroFile, Iterator[list[str]]]]:
    """Each file of ``plan`` with its rows, header first. Take each file's rows to the end before asking for the
    next file: they all come from one stream of invoices, read in batches."""
    addresses = _current_addresses(session, export)
    resolved: dict[uuid.UUID, XeroCodes] = {}

    def codes_of(location_id: uuid.UUID) -> XeroCodes:
        if location_id not in resolved:
            resolved[location_id] = codes(location_id)
        return resolved[location_id]

    def rows(invoices: Iterable[InvoiceRow]) -> Iterator[list[str]]:
        yield list(XERO_COLUMNS)
        for invoice in invoices:
            address = xero_address(invoice.bill_to_address, addresses.get(invoice.customer_id))
            yield from xero_invoice_rows(invoice, codes_of(invoice.location_id), address, date_order)

    for amount_type in AmountType:
        files = [file for file in plan.files if file.amount_type is amount_type]
        if not files:
            continue
        query = _xero_invoices(export).where(InvoiceRow.prices_include_tax == (amount_type is AmountType.INCLUSIVE))
        stream = iter(session.scalars(query.order_by(*_ORDER).execution_options(yield_per=batch)))
        for file in files:
            yield file, rows(islice(stream, file.invoices))
        if next(stream, None) is not None:
            raise RuntimeError("the invoices changed while they were exported; run the export again")


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: Path
    file: XeroFile
    lines: int


def xero_paths(plan: XeroExport, out: Path) -> list[Path]:
    """Where the files go: into ``out`` under their own names when it is a folder; else at ``out`` when there is
    one file, and next to it, named after it, when there are several (``out.csv`` -> ``out-exclusive-1.csv``).

    >>> [p.name for p in xero_paths(plan_xero_files({AmountType.EXCLUSIVE: 2, AmountType.INCLUSIVE: 1}),
    ...                                            Path("/nonexistent/december.csv"))]
    ['december-exclusive-1.csv', 'december-inclusive-1.csv']
    """
    if out.is_dir():
        return [out / file.name for file in plan.files]
    if plan.single:
        return [out]
    return [out.with_name(out.stem + file.name.removeprefix(XERO_FILE_PREFIX)) for file in plan.files]


def write_xero_files(
    session: Session,
    export: ExportFilter,
    plan: XeroExport,
    codes: XeroCodesFor,
    out: Path,
    date_order: DateOrder = DateOrder.DMY,
) -> list[WrittenFile]:
    """Write the files of ``plan`` where ``xero_paths`` says. Each is written under a hidden name and they all
    take their names at the end, so a failure half-way leaves no file that looks complete."""
    paths = xero_paths(plan, out)
    partials: list[Path] = []
    written = []
    try:
        for (file, rows), path in zip(xero_files(session, export, plan, codes, date_order), paths, strict=True):
            partial = path.with_name(f".{path.name}.partial")
            partials.append(partial)
            lines = -1  # the header is not a line
            with partial.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                for row in rows:
                    writer.writerow(row)
                    lines += 1
            written.append(WrittenFile(path, file, lines))
    except BaseException:
        for partial in partials:
            partial.unlink(missing_ok=True)
        raise
    for partial, done in zip(partials, written, strict=True):
        partial.replace(done.path)
    return written


def xero_readme(plan: XeroExport) -> str:
    """What to choose when importing each file into Xero (it goes into the zip with the files)."""
    lines = [
        "Import each file in Xero (Business > Invoices > Import). Xero asks whether the file's amounts are tax",
        "inclusive or tax exclusive: answer as listed here. Xero takes at most 500 invoices per file.",
        "",
    ]
    lines += [f"{file.name}: {file.invoices} invoices, amounts {file.amount_type.choice}" for file in plan.files]
    return "\r\n".join(lines) + "\r\n"


class XeroAddress(NamedTuple):
    lines: tuple[str, str, str, str]
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


CustomerAddress = tuple[str | None, str | None, str | None, str | None, str | None, str | None]


def _current_addresses(session: Session, export: ExportFilter) -> dict[uuid.UUID, CustomerAddress]:
    customer_ids = _xero_invoices(export).with_only_columns(InvoiceRow.customer_id).distinct()
    c = CustomerRow
    query = select(c.id, c.address_line1, c.address_line2, c.city, c.region, c.postal_code, c.country).where(
        c.id.in_(customer_ids)
    )
    return {row[0]: (row[1], row[2], row[3], row[4], row[5], row[6]) for row in session.execute(query)}


def xero_address(bill_to_address: str, current: CustomerAddress | None) -> XeroAddress:
    """The invoice's frozen bill-to address in Xero's postal address columns.

    The text was made by ``format_address`` from the customer's parts (line 1, line 2, "city postcode", region,
    country; empty ones left out). When the customer's address today still makes the same text, its parts are
    the invoice's, and each goes in its own column. Otherwise the customer has moved since: the text alone
    cannot tell which line is which, so the lines go in the address lines, in order, as printed on our invoice;
    only a text of all five lines is known part by part (its "city postcode" line goes in POCity whole).

    >>> xero_address("1 High St\\nLondon E1 6AN\\nGB", ("1 High St", None, "London", None, "E1 6AN", "GB"))
    XeroAddress(lines=('1 High St', '', '', ''), city='London', region='', postal_code='E1 6AN', country='GB')
    >>> xero_address("1 High St\\nLondon E1 6AN\\nGB", ("2 New Rd", None, "Leeds", None, "LS1 1AA", "GB"))
    XeroAddress(lines=('1 High St', 'London E1 6AN', 'GB', ''), city='', region='', postal_code='', country='')
    """
    if current is not None and bill_to_address and format_address(*current) == bill_to_address:
        line1, line2, city, region, postal_code, country = (part or "" for part in current)
        return XeroAddress((line1, line2, "", ""), city, region, postal_code, country)
    parts = [part for part in bill_to_address.splitlines() if part.strip()]
    if len(parts) == 5:
        line1, line2, city_line, region, country = parts
        return XeroAddress((line1, line2, "", ""), city_line, region, "", country)
    if len(parts) > 4:
        parts = [*parts[:3], ", ".join(parts[3:])]
    padded = [*parts, "", "", "", ""]
    return XeroAddress((padded[0], padded[1], padded[2], padded[3]))


class XeroLine(NamedTuple):
    description: str
    quantity: Decimal
    unit_amount: Decimal
    discount_rate: Decimal | None  # percent


def xero_line_amount(quantity: Decimal, unit_amount: Decimal, discount_rate: Decimal | None, currency: str) -> Decimal:
    """The line amount Xero computes: quantity x unit amount less the discount percentage, rounded half-up to the
    currency (Xero's spec has 19.95 at 10% off -> 17.96).

    >>> xero_line_amount(Decimal("1"), Decimal("19.95"), Decimal("10"), "GBP")
    Decimal('17.96')
    """
    exact = quantity * unit_amount
    if discount_rate is not None:
        exact = exact * (HUNDRED - discount_rate) / HUNDRED
    return round_money(exact, currency)


def xero_line(
    description: str,
    quantity: Decimal,
    unit_price: Decimal,
    discount_rate: Decimal | None,
    discount_amount: Decimal,
    amount: Decimal,
    currency: str,
) -> XeroLine:
    """A line as Xero's import must have it to arrive at our line ``amount`` (net or gross, as the invoice's
    prices are), since Xero computes the amount and the tax from the columns itself.

    As issued when Xero's arithmetic gives our amount: no discount, or a percentage discount (to two places,
    as Xero keeps them). The template has no column for a fixed discount amount, so such a line (or a
    percentage that Xero would round differently) keeps its quantity at the unit amount that gives our amount
    exactly to four places, and says what it was in the description: "Hot desk (2 x 300.00 less a discount of
    50.00)" at 275.00. When no unit amount to four places gives it, the line is 1 x the amount. A separate
    negative discount line is never used: Xero taxes each line on its own and rounds, so two lines could
    carry a cent more or less tax than the one we issued.

    >>> xero_line("Hot desk", Decimal(2), Decimal("300"), None, Decimal("50.00"), Decimal("550.00"), "GBP")
    XeroLine(description='Hot desk (2 x 300.00 less a discount of 50.00)', quantity=Decimal('2'), \
unit_amount=Decimal('275.0000'), discount_rate=None)
    """
    if discount_rate is not None and discount_rate == round(discount_rate, 2):
        if xero_line_amount(quantity, unit_price, discount_rate, currency) == amount:
            return XeroLine(description, quantity, unit_price, discount_rate)
    elif not discount_amount and xero_line_amount(quantity, unit_price, None, currency) == amount:
        return XeroLine(description, quantity, unit_price, None)
    note = f"{wire.number(quantity)} x {wire.unit_price(unit_price, currency)}"
    if discount_amount:
        rate = f"{wire.number(discount_rate)}% " if discount_rate is not None else ""
        note += f" less a {rate}discount of {wire.amount(discount_amount, currency)}"
    described = f"{description} ({note})"
    unit_amount = _unit_amount_for(quantity, amount, currency)
    if unit_amount is None:
        return XeroLine(described, Decimal(1), amount, None)
    return XeroLine(described, quantity, unit_amount, None)


def _unit_amount_for(quantity: Decimal, amount: Decimal, currency: str) -> Decimal | None:
    """A unit amount to four places that Xero multiplies by ``quantity`` into ``amount`` exactly, if any.
    (The amounts that work form an interval around amount / quantity; its nearest grid points are tried.)"""
    if quantity <= 0:
        return None
    nearest = (amount / quantity).quantize(_UNIT, rounding=ROUND_HALF_UP)
    for candidate in (nearest, nearest - _UNIT, nearest + _UNIT):
        if round_money(quantity * candidate, currency) == amount:
            return candidate
    return None


def line_description(description: str, period_start: date | None, period_end_exclusive: date | None) -> str:
    """The line's description with its period, as our invoice shows it; a membership's already names it.

    >>> line_description("Meeting room", date(2026, 11, 20), date(2026, 11, 21))
    'Meeting room, 20 Nov 2026'
    >>> line_description("Hot desk, 1-31 Dec 2026", date(2026, 12, 1), date(2027, 1, 1))
    'Hot desk, 1-31 Dec 2026'
    """
    if period_start is None or period_end_exclusive is None or period_end_exclusive <= period_start:
        return description
    shown = human_period(Period(period_start, period_end_exclusive))
    return description if shown in description else f"{description}, {shown}"


def invoice_reference(lines: Iterable[InvoiceLineRow]) -> str:
    """The span of the service periods the invoice bills, e.g. "1-31 Dec 2026": what an operator scanning
    Xero's invoice list wants next to our number."""
    spans = [(line.period_start, line.period_end_exclusive) for line in lines]
    starts = [start for start, end in spans if start is not None and end is not None and end > start]
    ends = [end for start, end in spans if start is not None and end is not None and end > start]
    return human_period(Period(min(starts), max(ends))) if starts else ""


def xero_invoice_rows(
    invoice: InvoiceRow, codes: XeroCodes, address: XeroAddress, date_order: DateOrder
) -> list[list[str]]:
    """The rows of one invoice, one per line, with the invoice's columns repeated on each as Xero's import
    reads them. Unit amounts are net or gross as the invoice's prices are (the file's amount type). ``codes``
    must map every code of the lines (``plan_xero_export`` checks)."""
    c = invoice.currency
    tracking_name, tracking_option = codes.tracking or ("", "")
    head = [
        invoice.bill_to_name, invoice.bill_to_email, *address.lines, address.city, address.region,
        address.postal_code, address.country, invoice.number or "", invoice_reference(invoice.lines),
        date_order.render(invoice.issue_date), date_order.render(invoice.due_date), "",
    ]  # fmt: skip
    rows = []
    for line in invoice.lines:
        amount = line.gross_amount if invoice.prices_include_tax else line.net_amount
        description = line_description(line.description, line.period_start, line.period_end_exclusive)
        x = xero_line(description, line.quantity, line.unit_price, line.discount_rate, line.discount_amount, amount, c)
        rows.append([
            *head, x.description, wire.number(x.quantity), wire.unit_price(x.unit_amount, c),
            "" if x.discount_rate is None else wire.number(x.discount_rate),
            codes.accounts[line.account_code], codes.tax_types[line.tax_rate_code],
            tracking_name, tracking_option, "", "", c, "",
        ])  # fmt: skip
    return rows


class _Chunks:
    """A write-only, unseekable file that hands back what was written, for a zip made while it is sent."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def to_zip(members: Iterable[tuple[str, Iterable[str]]], made_at: datetime) -> Iterator[bytes]:
    """A zip of text files (UTF-8), produced as it is written: no member, nor the archive, is held whole in
    memory. ``made_at`` dates the members."""
    sink = _Chunks()
    stamp = (made_at.year, made_at.month, made_at.day, made_at.hour, made_at.minute, made_at.second)
    with zipfile.ZipFile(sink, "w") as archive:
        for name, chunks in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w") as member:
                for chunk in chunks:
                    member.write(chunk.encode("utf-8"))
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    yield sink.take()
