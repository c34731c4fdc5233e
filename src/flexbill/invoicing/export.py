"""The invoices CSV exports, one row per invoice line: flexbill's own documented columns (docs/api.md), Xero's
sales invoice import template (its 27 columns), or QuickBooks Online's invoice import columns; an import template
is split into files the accounting system can import as they are.
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
from typing import ClassVar, Generic, NamedTuple, TypeVar, TypeVarTuple

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


# --- accounting systems' invoice import templates: Xero's and QuickBooks Online's -------------------------------

XERO_COLUMNS = (
    "*ContactName", "EmailAddress", "POAddressLine1", "POAddressLine2", "POAddressLine3", "POAddressLine4",
    "POCity", "PORegion", "POPostalCode", "POCountry", "*InvoiceNumber", "Reference", "*InvoiceDate", "*DueDate",
    "InventoryItemCode", "*Description", "*Quantity", "*UnitAmount", "Discount", "*AccountCode", "*TaxType",
    "TrackingName1", "TrackingOption1", "TrackingName2", "TrackingOption2", "Currency", "BrandingTheme",
)  # fmt: skip
XERO_INVOICES_PER_FILE = 500  # Xero imports at most this many invoices from one file
XERO_FILE_PREFIX = "xero-invoices"
# QuickBooks Online maps these headers by itself (Settings > Import data > Invoices); it requires Invoice no,
# Customer, Invoice date, Due date and Item amount.
QUICKBOOKS_COLUMNS = (
    "Invoice no", "Customer", "Invoice date", "Due date", "Terms", "Location", "Memo", "Item(Product/Service)",
    "Item description", "Item quantity", "Item rate", "Item amount", "Item tax code", "Item tax amount",
    "Service date", "Currency code",
)  # fmt: skip
# The limit QuickBooks Online is reported to set on one import file; not confirmed by Intuit's documentation, and
# a smaller file costs the operator nothing but another upload.
QUICKBOOKS_INVOICES_PER_FILE = 100
QUICKBOOKS_FILE_PREFIX = "quickbooks-invoices"
_UNIT = Decimal("0.0001")  # the finest unit amount Xero keeps (and the finest rate the QuickBooks file carries)


class ExportFormat(StrEnum):
    FLEXBILL = "flexbill"
    XERO = "xero"
    QUICKBOOKS = "quickbooks"


class DateOrder(StrEnum):
    """How the file writes dates: Xero reads them in the order of the organisation's region (US: month first);
    QuickBooks Online asks at import which order the file uses."""

    DMY = "dmy"
    MDY = "mdy"

    def render(self, day: date) -> str:
        """``date(2026, 12, 1)`` -> ``"01/12/2026"`` (dmy) or ``"12/01/2026"`` (mdy)."""
        return f"{day:%d/%m/%Y}" if self is DateOrder.DMY else f"{day:%m/%d/%Y}"

    @property
    def pattern(self) -> str:
        """The format to choose where an import asks for it: ``"DD/MM/YYYY"`` or ``"MM/DD/YYYY"``."""
        return "DD/MM/YYYY" if self is DateOrder.DMY else "MM/DD/YYYY"


class AmountType(StrEnum):
    """Whether a file's unit amounts include tax. Xero and QuickBooks Online ask once per file, at import, so a
    file holds one kind: the invoices of locations whose prices include tax go in files of their own."""

    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"

    @property
    def choice(self) -> str:
        """What to answer when the import asks about the file's amounts."""
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


@dataclass(frozen=True, slots=True)
class QuickBooksCodes:
    """How one location's lines are named in QuickBooks Online's import, which takes names where the API takes
    ids: our revenue account code -> the name of the QuickBooks product or service (``Item(Product/Service)``),
    which books the line to its income account; our tax rate code -> the QuickBooks tax code's name
    (``Item tax code``, e.g. "20.0% S"); and the QuickBooks location to put every invoice in, if any.

    As with ``XeroCodes``, the mappings must hold every code the exported lines use: a code left out is an error.
    """

    items: Mapping[str, str]
    tax_codes: Mapping[str, str]
    location: str | None = None  # the name of a QuickBooks location (a Department), e.g. "London Bridge"


CodesT = TypeVar("CodesT")
XeroCodesFor = Callable[[uuid.UUID], XeroCodes]  # a location's id -> its Xero codes
QuickBooksCodesFor = Callable[[uuid.UUID], QuickBooksCodes]  # a location's id -> its QuickBooks Online names


def default_xero_codes(session: Session) -> XeroCodesFor:
    """Our own account codes and our tax rates' names, the same at every location: what a Xero organisation
    whose chart of accounts and tax rates were set up to match flexbill's catalog expects, and what locations
    without an accounting connection use."""
    accounts = {code: code for code in session.scalars(select(RevenueAccountRow.code))}
    tax_types = dict(session.execute(select(TaxRateRow.code, TaxRateRow.name)).all())
    codes = XeroCodes(accounts=accounts, tax_types=tax_types)
    return lambda _location_id: codes


def own_quickbooks_codes(session: Session) -> QuickBooksCodes:
    """Our revenue accounts' names as the products and services, and our tax rates' names as the tax codes: what
    a QuickBooks company whose products, services and tax codes are named as flexbill's catalog expects, and what
    locations without a QuickBooks connection use."""
    items = dict(session.execute(select(RevenueAccountRow.code, RevenueAccountRow.name)).all())
    tax_codes = dict(session.execute(select(TaxRateRow.code, TaxRateRow.name)).all())
    return QuickBooksCodes(items=items, tax_codes=tax_codes)


class MissingCodes(Conflict):
    """Lines use codes that a location's codes for an accounting system do not map. Raised before anything is
    written, and lists every missing code at once, so one round of mapping fixes them all."""

    system: ClassVar[str]

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
            f"the {self.system} codes do not map every code the invoices use, so nothing was exported; "
            f"map these and export again: {'; '.join(parts)}"
        )
        self.missing = missing


class MissingXeroCodes(MissingCodes):
    system = "Xero"


class MissingQuickBooksCodes(MissingCodes):
    system = "QuickBooks Online"


CustomerAddress = tuple[str | None, str | None, str | None, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class ImportTemplate(Generic[CodesT]):
    """An accounting system's invoice import template: its columns, how many invoices its import takes from one
    file, how a location's codes name our accounts and tax rates in it, and how an invoice becomes its rows.
    ``XERO`` and ``QUICKBOOKS`` are the two there are; everything else an export does is shared."""

    system: str  # the accounting system, as its users call it
    columns: tuple[str, ...]
    file_prefix: str  # files are named ``{prefix}-{amount type}[-{n}].csv``, a zip ``{prefix}.zip``
    invoices_per_file: int
    missing_codes: type[MissingCodes]
    # A location's codes -> (by our revenue account code, by our tax rate code): what must cover every line.
    mapped: Callable[[CodesT], tuple[Mapping[str, str], Mapping[str, str]]]
    # An invoice, its location's codes, its customer's address today (when ``uses_addresses``) -> its rows.
    invoice_rows: Callable[[InvoiceRow, CodesT, CustomerAddress | None, DateOrder], list[list[str]]]
    uses_addresses: bool
    how_to_import: Callable[[DateOrder], list[str]]  # the README's opening lines


@dataclass(frozen=True, slots=True)
class ExportFile:
    name: str
    amount_type: AmountType
    invoices: int


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """The files an export to an import template makes: per amount type, exclusive first, as many files of at
    most the template's invoices per file as it takes. Everything in one file when that fits (one amount type,
    few enough invoices); an export that finds no invoice is one file with the header only."""

    files: tuple[ExportFile, ...]
    file_prefix: str

    @property
    def single(self) -> bool:
        return len(self.files) == 1


def plan_files(template: ImportTemplate[CodesT], counts: Mapping[AmountType, int]) -> ExportPlan:
    """The files for ``counts`` invoices of each amount type.

    >>> [(f.name, f.invoices) for f in plan_files(XERO, {AmountType.EXCLUSIVE: 501}).files]
    [('xero-invoices-exclusive-1.csv', 500), ('xero-invoices-exclusive-2.csv', 1)]
    >>> [f.name for f in plan_files(QUICKBOOKS, {AmountType.INCLUSIVE: 3}).files]
    ['quickbooks-invoices-inclusive.csv']
    """
    prefix, per_file = template.file_prefix, template.invoices_per_file
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
        return ExportPlan((ExportFile(f"{prefix}-{amount_type.value}.csv", amount_type, invoices),), prefix)
    files, numbers = [], defaultdict[AmountType, int](int)
    for amount_type, invoices in parts:
        numbers[amount_type] += 1
        files.append(ExportFile(f"{prefix}-{amount_type.value}-{numbers[amount_type]}.csv", amount_type, invoices))
    return ExportPlan(tuple(files), prefix)


def plan_xero_files(counts: Mapping[AmountType, int]) -> ExportPlan:
    """``plan_files`` for Xero's template (500 invoices per file)."""
    return plan_files(XERO, counts)


def repeatable_reads(session: Session) -> None:
    """Make the session's transaction read one snapshot, so that the files planned from the counts are the
    files written even while bill runs commit. Call it first. (SQLite's read transactions already are.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _numbered_invoices(export: ExportFilter) -> Select[InvoiceRow]:
    # Invoices without a number (drafts voided before issue) were never documents; they have nothing to import.
    return _filtered(select(InvoiceRow), export).where(InvoiceRow.number.is_not(None))


def plan_export(
    session: Session, export: ExportFilter, template: ImportTemplate[CodesT], codes: Callable[[uuid.UUID], CodesT]
) -> ExportPlan:
    """Check that the invoices can be exported to ``template`` and plan the files, reading only counts and codes.

    Refuses drafts (they have no number yet, and the import makes one invoice of all the rows that share a
    number) and lines whose codes ``codes`` does not map (every missing code listed).
    """
    if export.status is InvoiceStatus.DRAFT:
        raise InvalidInput(
            f"drafts cannot be exported for {template.system}: they have no invoice number yet, and "
            f"{template.system}'s import makes one invoice of the rows that share a number; issue them first",
            field="status",
        )
    invoices = (
        _numbered_invoices(export)
        .with_only_columns(InvoiceRow.id, InvoiceRow.location_id, InvoiceRow.prices_include_tax)
        .subquery()
    )
    used = session.execute(
        select(invoices.c.location_id, InvoiceLineRow.account_code, InvoiceLineRow.tax_rate_code)
        .join(InvoiceLineRow, InvoiceLineRow.invoice_id == invoices.c.id)
        .distinct()
    )
    location_codes = dict(session.execute(select(LocationRow.id, LocationRow.code)).all())
    resolved: dict[uuid.UUID, tuple[Mapping[str, str], Mapping[str, str]]] = {}
    missing: dict[str, tuple[list[str], list[str]]] = {}
    for location_id, account_code, tax_rate_code in used:
        if location_id not in resolved:
            resolved[location_id] = template.mapped(codes(location_id))
        by_account, by_tax_rate = resolved[location_id]
        accounts, tax_rates = missing.setdefault(location_codes[location_id], ([], []))
        if account_code not in by_account and account_code not in accounts:
            accounts.append(account_code)
        if tax_rate_code not in by_tax_rate and tax_rate_code not in tax_rates:
            tax_rates.append(tax_rate_code)
    gaps = {location: lists for location, lists in missing.items() if lists[0] or lists[1]}
    if gaps:
        raise template.missing_codes(gaps)
    counts = session.execute(
        select(invoices.c.prices_include_tax, func.count()).group_by(invoices.c.prices_include_tax)
    ).all()
    by_type = {AmountType.INCLUSIVE if inclusive else AmountType.EXCLUSIVE: n for inclusive, n in counts}
    return plan_files(template, by_type)


def template_files(
    session: Session,
    export: ExportFilter,
    template: ImportTemplate[CodesT],
    plan: ExportPlan,
    codes: Callable[[uuid.UUID], CodesT],
    date_order: DateOrder = DateOrder.DMY,
    batch: int = 500,
) -> Iterator[tuple[ExportFile, Iterator[list[str]]]]:
    """Each file of ``plan`` with its rows, header first. Take each file's rows to the end before asking for the
    next file: they all come from one stream of invoices, read in batches."""
    addresses = _current_addresses(session, export) if template.uses_addresses else {}
    resolved: dict[uuid.UUID, CodesT] = {}

    def codes_of(location_id: uuid.UUID) -> CodesT:
        if location_id not in resolved:
            resolved[location_id] = codes(location_id)
        return resolved[location_id]

    def rows(invoices: Iterable[InvoiceRow]) -> Iterator[list[str]]:
        yield list(template.columns)
        for invoice in invoices:
            current = addresses.get(invoice.customer_id)
            yield from template.invoice_rows(invoice, codes_of(invoice.location_id), current, date_order)

    for amount_type in AmountType:
        files = [file for file in plan.files if file.amount_type is amount_type]
        if not files:
            continue
        inclusive = amount_type is AmountType.INCLUSIVE
        query = _numbered_invoices(export).where(InvoiceRow.prices_include_tax == inclusive)
        stream = iter(session.scalars(query.order_by(*_ORDER).execution_options(yield_per=batch)))
        for file in files:
            yield file, rows(islice(stream, file.invoices))
        if next(stream, None) is not None:
            raise RuntimeError("the invoices changed while they were exported; run the export again")


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: Path
    file: ExportFile
    lines: int


def file_paths(plan: ExportPlan, out: Path) -> list[Path]:
    """Where the files go: into ``out`` under their own names when it is a folder; else at ``out`` when there is
    one file, and next to it, named after it, when there are several (``out.csv`` -> ``out-exclusive-1.csv``).

    >>> [p.name for p in file_paths(plan_files(XERO, {AmountType.EXCLUSIVE: 2, AmountType.INCLUSIVE: 1}),
    ...                                           Path("/nonexistent/december.csv"))]
    ['december-exclusive-1.csv', 'december-inclusive-1.csv']
    """
    if out.is_dir():
        return [out / file.name for file in plan.files]
    if plan.single:
        return [out]
    return [out.with_name(out.stem + file.name.removeprefix(plan.file_prefix)) for file in plan.files]


def write_files(
    session: Session,
    export: ExportFilter,
    template: ImportTemplate[CodesT],
    plan: ExportPlan,
    codes: Callable[[uuid.UUID], CodesT],
    out: Path,
    date_order: DateOrder = DateOrder.DMY,
) -> list[WrittenFile]:
    """Write the files of ``plan`` where ``file_paths`` says. Each is written under a hidden name and they all
    take their names at the end, so a failure half-way leaves no file that looks complete."""
    paths = file_paths(plan, out)
    partials: list[Path] = []
    written = []
    try:
        files = template_files(session, export, template, plan, codes, date_order)
        for (file, rows), path in zip(files, paths, strict=True):
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


def readme(template: ImportTemplate[CodesT], plan: ExportPlan, date_order: DateOrder) -> str:
    """What to choose when importing each file (it goes into the zip with the files)."""
    lines = [*template.how_to_import(date_order), ""]
    lines += [f"{file.name}: {file.invoices} invoices, amounts {file.amount_type.choice}" for file in plan.files]
    return "\r\n".join(lines) + "\r\n"


def _xero_how_to_import(_date_order: DateOrder) -> list[str]:
    # Xero reads dates in the order of the organisation's region, so there is no date format to choose.
    return [
        "Import each file in Xero (Business > Invoices > Import). Xero asks whether the file's amounts are tax",
        "inclusive or tax exclusive: answer as listed here. Xero takes at most 500 invoices per file.",
    ]


def _quickbooks_how_to_import(date_order: DateOrder) -> list[str]:
    return [
        "Import each file in QuickBooks Online (Settings > Import data > Invoices). Turn on custom transaction",
        "numbers first (Account and settings > Sales), or QuickBooks gives the invoices numbers of its own.",
        f"When QuickBooks asks for the date format, choose {date_order.pattern}. When it asks whether the",
        "amounts are exclusive or inclusive of tax, answer as listed here. QuickBooks takes at most 100 invoices",
        "per file.",
    ]


class XeroAddress(NamedTuple):
    lines: tuple[str, str, str, str]
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


def _current_addresses(session: Session, export: ExportFilter) -> dict[uuid.UUID, CustomerAddress]:
    customer_ids = _numbered_invoices(export).with_only_columns(InvoiceRow.customer_id).distinct()
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


class ImportLine(NamedTuple):
    description: str
    quantity: Decimal
    unit_amount: Decimal
    discount_rate: Decimal | None  # percent


def computed_line_amount(
    quantity: Decimal, unit_amount: Decimal, discount_rate: Decimal | None, currency: str
) -> Decimal:
    """The line amount an import computes: quantity x unit amount less the discount percentage, rounded half-up
    to the currency (Xero's spec has 19.95 at 10% off -> 17.96; QuickBooks Online takes no percentage).

    >>> computed_line_amount(Decimal("1"), Decimal("19.95"), Decimal("10"), "GBP")
    Decimal('17.96')
    """
    exact = quantity * unit_amount
    if discount_rate is not None:
        exact = exact * (HUNDRED - discount_rate) / HUNDRED
    return round_money(exact, currency)


xero_line_amount = computed_line_amount  # what Xero computes, under the name the Xero export has always used


def import_line(
    description: str,
    quantity: Decimal,
    unit_price: Decimal,
    discount_rate: Decimal | None,
    discount_amount: Decimal,
    amount: Decimal,
    currency: str,
    *,
    percentage_discounts: bool,
) -> ImportLine:
    """A line as an import template must have it to arrive at our line ``amount`` (net or gross, as the invoice's
    prices are), since the accounting system computes the amount from quantity and unit amount itself (Xero
    computes the tax from them too; QuickBooks Online's file also carries our tax, but its amount must still be
    quantity x rate).

    As issued when the system's arithmetic gives our amount: no discount, or, where the template has a discount
    percentage column (``percentage_discounts``: Xero's), a percentage discount to two places, as Xero keeps
    them. A fixed discount amount has no column in either template, so such a line (or a percentage that cannot
    be sent, or that Xero would round differently) keeps its quantity at the unit amount that gives our amount
    exactly to four places, and says what it was in the description: "Hot desk (2 x 300.00 less a discount of
    50.00)" at 275.00. When no unit amount to four places gives it, the line is 1 x the amount. A separate
    negative discount line is never used: Xero taxes each line on its own and rounds, so two lines could
    carry a cent more or less tax than the one we issued.

    >>> import_line("Hot desk", Decimal(2), Decimal("300"), None, Decimal("50.00"), Decimal("550.00"), "GBP",
    ...             percentage_discounts=True)
    ImportLine(description='Hot desk (2 x 300.00 less a discount of 50.00)', quantity=Decimal('2'), \
unit_amount=Decimal('275.0000'), discount_rate=None)
    """
    if percentage_discounts and discount_rate is not None and discount_rate == round(discount_rate, 2):
        if computed_line_amount(quantity, unit_price, discount_rate, currency) == amount:
            return ImportLine(description, quantity, unit_price, discount_rate)
    elif not discount_amount and computed_line_amount(quantity, unit_price, None, currency) == amount:
        return ImportLine(description, quantity, unit_price, None)
    note = f"{wire.number(quantity)} x {wire.unit_price(unit_price, currency)}"
    if discount_amount:
        rate = f"{wire.number(discount_rate)}% " if discount_rate is not None else ""
        note += f" less a {rate}discount of {wire.amount(discount_amount, currency)}"
    described = f"{description} ({note})"
    unit_amount = _unit_amount_for(quantity, amount, currency)
    if unit_amount is None:
        return ImportLine(described, Decimal(1), amount, None)
    return ImportLine(described, quantity, unit_amount, None)


def xero_line(
    description: str,
    quantity: Decimal,
    unit_price: Decimal,
    discount_rate: Decimal | None,
    discount_amount: Decimal,
    amount: Decimal,
    currency: str,
) -> ImportLine:
    """``import_line`` for Xero's template, whose Discount column takes a percentage."""
    return import_line(
        description, quantity, unit_price, discount_rate, discount_amount, amount, currency, percentage_discounts=True
    )


def _unit_amount_for(quantity: Decimal, amount: Decimal, currency: str) -> Decimal | None:
    """A unit amount to four places that multiplies by ``quantity`` into ``amount`` exactly, if any.
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
    must map every code of the lines (``plan_export`` checks)."""
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


def quickbooks_invoice_rows(invoice: InvoiceRow, codes: QuickBooksCodes, date_order: DateOrder) -> list[list[str]]:
    """The rows of one invoice, one per line, with the invoice's columns repeated on each as QuickBooks Online's
    import reads them. Item amount is net or gross as the invoice's prices are (the file's amount type) and is
    always Item quantity x Item rate; Item tax amount is our tax of the line, so QuickBooks keeps our tax rather
    than computing its own. ``codes`` must name every code of the lines (``plan_export`` checks)."""
    c = invoice.currency
    head = [
        invoice.number or "", invoice.bill_to_name, date_order.render(invoice.issue_date),
        date_order.render(invoice.due_date), "", codes.location or "", invoice_reference(invoice.lines),
    ]  # fmt: skip
    rows = []
    for line in invoice.lines:
        amount = line.gross_amount if invoice.prices_include_tax else line.net_amount
        description = line_description(line.description, line.period_start, line.period_end_exclusive)
        q = import_line(
            description, line.quantity, line.unit_price, line.discount_rate, line.discount_amount, amount, c,
            percentage_discounts=False,
        )  # fmt: skip
        rows.append([
            *head, codes.items[line.account_code], q.description, wire.number(q.quantity),
            wire.unit_price(q.unit_amount, c), wire.amount(amount, c), codes.tax_codes[line.tax_rate_code],
            wire.amount(line.tax_amount, c), date_order.render(line.period_start) if line.period_start else "", c,
        ])  # fmt: skip
    return rows


def _xero_rows(
    invoice: InvoiceRow, codes: XeroCodes, current: CustomerAddress | None, date_order: DateOrder
) -> list[list[str]]:
    return xero_invoice_rows(invoice, codes, xero_address(invoice.bill_to_address, current), date_order)


def _quickbooks_rows(
    invoice: InvoiceRow, codes: QuickBooksCodes, _current: CustomerAddress | None, date_order: DateOrder
) -> list[list[str]]:
    return quickbooks_invoice_rows(invoice, codes, date_order)  # the template has no address columns


XERO: ImportTemplate[XeroCodes] = ImportTemplate(
    system="Xero",
    columns=XERO_COLUMNS,
    file_prefix=XERO_FILE_PREFIX,
    invoices_per_file=XERO_INVOICES_PER_FILE,
    missing_codes=MissingXeroCodes,
    mapped=lambda codes: (codes.accounts, codes.tax_types),
    invoice_rows=_xero_rows,
    uses_addresses=True,
    how_to_import=_xero_how_to_import,
)
QUICKBOOKS: ImportTemplate[QuickBooksCodes] = ImportTemplate(
    system="QuickBooks Online",
    columns=QUICKBOOKS_COLUMNS,
    file_prefix=QUICKBOOKS_FILE_PREFIX,
    invoices_per_file=QUICKBOOKS_INVOICES_PER_FILE,
    missing_codes=MissingQuickBooksCodes,
    mapped=lambda codes: (codes.items, codes.tax_codes),
    invoice_rows=_quickbooks_rows,
    uses_addresses=False,
    how_to_import=_quickbooks_how_to_import,
)


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
