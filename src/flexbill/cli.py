"""The command line: ``flexbill ...``."""

from __future__ import annotations

import sys
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from flexbill.billing.service import BillRunResult
from flexbill.bootstrap import Context, build_context
from flexbill.errors import FlexbillError
from flexbill.importing import ImportKind
from flexbill.money import round_money

app = typer.Typer(
    help="flexbill: billing for flexible workspaces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold API keys and customer data
)
api_keys_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)
invoices_app = typer.Typer(help="Invoices.", no_args_is_help=True)
export_app = typer.Typer(help="Exports.", no_args_is_help=True)
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(invoices_app, name="invoices")
app.add_typer(export_app, name="export")

console = Console()
errors = Console(stderr=True)


def _context(*, migrated: bool = True) -> Context:
    """The context from the settings. With ``migrated``, the database must be up to date: the embedded SQLite
    default is upgraded on the spot; PostgreSQL is left to `flexbill migrate`, run on purpose."""
    from flexbill.migrations import is_up_to_date, upgrade

    ctx = build_context()
    if migrated and not is_up_to_date(ctx.engine):
        if ctx.engine.dialect.name != "sqlite":
            url = ctx.engine.url.render_as_string(hide_password=True)
            raise _fail(f"the database {url} is not set up for this version of flexbill: run `flexbill migrate`")
        upgrade(ctx.engine)
    return ctx


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


def _location_id(ctx: Context, code: str | None) -> uuid.UUID | None:
    if code is None:
        return None
    from flexbill.catalog.service import get_location_by_code

    with ctx.readers() as db:
        return get_location_by_code(db, code, field="--location").id


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to this version of flexbill."""
    from flexbill.migrations import upgrade

    ctx = _context(migrated=False)
    upgrade(ctx.engine)
    console.print(f"Database is up to date ({ctx.engine.url.render_as_string(hide_password=True)}).")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the REST API (and, as they arrive, the staff console and the members' portal)."""
    import uvicorn

    from flexbill.web.app import create_app

    ctx = _context()
    uvicorn.run(create_app(ctx), host=host or ctx.settings.host, port=port or ctx.settings.port)


@api_keys_app.command("create")
def create_api_key(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'website'.")],
    read_only: Annotated[bool, typer.Option("--read-only", help="Only the read scope.")] = False,
) -> None:
    """Make an API key. The key is printed once, alone on the last line; only its digest is kept."""
    from flexbill.access.service import SCOPES, create_api_key

    ctx = _context()
    try:
        with ctx.sessions() as db, db.begin():
            made = create_api_key(db, name, frozenset({"read"}) if read_only else SCOPES)
    except FlexbillError as error:
        raise _fail(error.message) from None
    errors.print(f"API key {made.row.name!r} ({made.row.scopes}). Keep it safe: it is not shown again.")
    print(made.key)


@app.command("bill-run")
def bill_run(
    run_date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="The billing day, YYYY-MM-DD. Default: the one due today by the billing rules (the next billing "
            "day once within generate_days_before days of it), as a daily scheduled job would run it.",
        ),
    ] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Show what would be invoiced; write nothing.")] = False,
    location: Annotated[str | None, typer.Option(help="Only this location (its code).")] = None,
) -> None:
    """Invoice every membership period and one-off fee due on a billing day. Safe to run again."""
    from flexbill.billing.model import scheduled_run_date
    from flexbill.billing.service import get_billing_rules, preview_bill_run, run_bill_run

    ctx = _context()
    if run_date is None:
        with ctx.readers() as db:
            day = scheduled_run_date(ctx.clock.today(), get_billing_rules(db))
        errors.print(f"The bill run due today is the one for {day.isoformat()}.")
    else:
        day = _parse_date(run_date, "--date")
    try:
        location_id = _location_id(ctx, location)
        if preview:
            with ctx.readers() as db:
                result = preview_bill_run(db, day, location_id)
        else:
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=errors, transient=True,
            ) as bar:  # fmt: skip
                task = bar.add_task("planning", total=None)

                def report(stage: str, done: int, total: int) -> None:
                    bar.update(task, description=stage, completed=done, total=total or None)

                result = run_bill_run(ctx.sessions, ctx.clock, day, location_id, progress=report)
    except FlexbillError as error:
        raise _fail(error.message) from None

    table = _bill_run_table(f"{'Preview of the bill run' if preview else 'Bill run'} for {day.isoformat()}", result)
    console.print(table)
    if not result.invoices:
        console.print("Nothing to invoice: everything due on this date is already invoiced.")
    elif preview:
        console.print("Preview only: nothing was written.")
    else:
        console.print(f"Bill run {result.id}: {len(result.invoices)} invoices created.")


@invoices_app.command("list")
def list_invoices(
    status: Annotated[str | None, typer.Option(help="draft, awaiting_payment, partially_paid, paid or voided.")] = None,
    location: Annotated[str | None, typer.Option(help="A location code.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """List invoices, newest first."""
    from flexbill.invoicing.model import InvoiceStatus
    from flexbill.invoicing.service import amount_due, is_overdue, todays_by_location
    from flexbill.invoicing.store import InvoiceRow

    if status is not None and status not in {s.value for s in InvoiceStatus}:
        raise _fail(f"--status {status!r} is not one of {', '.join(s.value for s in InvoiceStatus)}")
    ctx = _context()
    try:
        location_id = _location_id(ctx, location)
    except FlexbillError as error:
        raise _fail(error.message) from None
    with ctx.readers() as db:
        query = select(InvoiceRow).order_by(InvoiceRow.id.desc()).limit(limit)
        if status:
            query = query.where(InvoiceRow.status == status)
        if location_id:
            query = query.where(InvoiceRow.location_id == location_id)
        table = Table()
        for column in ("Number", "Customer", "Issued", "Due", "Status", "Total", "Due now"):
            numeric = column in ("Total", "Due now")
            table.add_column(column, justify="right" if numeric else "left", no_wrap=column != "Customer", min_width=12)
        todays = todays_by_location(db, ctx.clock)
        for invoice in db.scalars(query):
            state = invoice.status.replace("_", " ") + (
                ", overdue" if is_overdue(invoice, todays[invoice.location_id]) else ""
            )
            table.add_row(
                invoice.number or "(draft)", invoice.bill_to_name, invoice.issue_date.isoformat(),
                invoice.due_date.isoformat(), state, f"{_amount(invoice.total, invoice.currency)} {invoice.currency}",
                _amount(amount_due(invoice), invoice.currency),
            )  # fmt: skip
        console.print(table)


@export_app.command("invoices")
def export_invoices(
    out: Annotated[Path, typer.Option(help="The CSV file to write.")],
    date_from: Annotated[str | None, typer.Option("--from", help="First issue date.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last issue date (inclusive).")] = None,
    location: Annotated[str | None, typer.Option(help="A location code.")] = None,
    status: Annotated[str | None, typer.Option(help="Only invoices in this status.")] = None,
) -> None:
    """Write the invoices as CSV, one row per line (columns in docs/api.md)."""
    from flexbill.invoicing.export import ExportFilter, invoice_rows, to_csv_text
    from flexbill.invoicing.model import InvoiceStatus

    if status is not None and status not in {s.value for s in InvoiceStatus}:
        raise _fail(f"--status {status!r} is not one of {', '.join(s.value for s in InvoiceStatus)}")
    ctx = _context()
    try:
        location_id = _location_id(ctx, location)
    except FlexbillError as error:
        raise _fail(error.message) from None
    export = ExportFilter(
        _parse_date(date_from, "--from") if date_from else None,
        _parse_date(date_to, "--to") if date_to else None,
        location_id,
        InvoiceStatus(status) if status else None,
    )
    if not out.parent.is_dir():
        raise _fail(f"--out {out}: the folder {out.parent} does not exist")
    lines = 0
    with ctx.readers() as db, out.open("w", encoding="utf-8", newline="") as handle:
        for chunk in to_csv_text(invoice_rows(db, export)):
            handle.write(chunk)
            lines += chunk.count("\r\n")
    console.print(f"Wrote {max(lines - 1, 0)} invoice lines to {out}.")


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="Port to serve on.")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build the sample space, then stop.")] = False,
) -> None:
    """Build a sample coworking space in a fresh embedded database, bill it, and serve the API."""
    from flexbill.access.service import create_api_key
    from flexbill.demo import HISTORY_MONTHS, build_demo_space
    from flexbill.migrations import upgrade
    from flexbill.settings import get_settings

    settings = get_settings()
    demo_dir = settings.data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    database = demo_dir / "flexbill.sqlite3"
    for stale in demo_dir.glob("flexbill.sqlite3*"):
        stale.unlink()
    settings = settings.model_copy(update={"database_url": f"sqlite:///{database}"})
    ctx = build_context(settings)
    upgrade(ctx.engine)
    space = build_demo_space(ctx.sessions, ctx.clock)
    with ctx.sessions() as db, db.begin():
        key = create_api_key(db, "demo").key

    table = _bill_run_table(f"Sample space, bill run of {space.billing_day.isoformat()}", space.bill_run)
    console.print(
        f"A fresh sample space (made anew each time): {space.customers} customers, {space.memberships} "
        f"memberships and {space.fees} fees, with {HISTORY_MONTHS} months of history.",
        soft_wrap=True,
    )
    console.print(table)
    url = f"http://{settings.host}:{port or settings.port}"
    console.print(f"API key (read and write): [bold]{key}[/bold]", soft_wrap=True)
    console.print(f"Try:  curl -H 'Authorization: Bearer {key}' '{url}/api/v1/invoices?limit=2'", soft_wrap=True)
    console.print(f"CLI:  export FLEXBILL_DATABASE_URL={settings.database_url}", soft_wrap=True)
    console.print(f"API reference: {url}/api/v1/docs", soft_wrap=True)
    if no_serve:
        return
    import uvicorn

    from flexbill.web.app import create_app

    uvicorn.run(create_app(ctx), host=settings.host, port=port or settings.port)


@app.command("import")
def import_csv(
    kind: Annotated[ImportKind, typer.Argument(help="What the file holds.", case_sensitive=False)],
    file: Annotated[
        Path, typer.Argument(help="A CSV file, UTF-8 (columns in docs/import.md).", exists=True, dir_okay=False)
    ],
) -> None:
    """Import customers, memberships or one-off fees from a CSV file: every row, or nothing if any row is bad."""
    from flexbill.importing import ImportRejected, import_file

    ctx = _context()
    try:
        with ctx.sessions() as db, db.begin():
            report = import_file(db, kind, file)
    except ImportRejected as rejected:
        table = Table(title=f"Problems in {file}", title_justify="left")
        table.add_column("Row", justify="right", no_wrap=True)
        table.add_column("Column", no_wrap=True)
        table.add_column("Problem")
        for problem in rejected.problems:
            table.add_row("file" if problem.row is None else str(problem.row), problem.column or "", problem.message)
        errors.print(table, highlight=False)
        rows = len({problem.row for problem in rejected.problems})
        count = len(rejected.problems)
        raise _fail(
            f"nothing was imported: {count} problem{'s' * (count != 1)} in {rows} row{'s' * (rows != 1)}. "
            "Correct the file and import all of it again."
        ) from None
    except FlexbillError as error:
        raise _fail(error.message) from None
    console.print(f"{report.summary()}.", highlight=False)


def _bill_run_table(title: str, run: BillRunResult) -> Table:
    """Invoices, lines and totals of a bill run per location and currency."""
    table = Table(title=title)
    for column in ("Location", "Currency", "Invoices", "Lines", "Subtotal", "Tax", "Total"):
        table.add_column(column, justify="left" if column in ("Location", "Currency") else "right", no_wrap=True)
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 5)
    for invoice in run.invoices:
        row = totals[(invoice.location.code, invoice.currency)]
        values = (Decimal(1), Decimal(len(invoice.lines)), invoice.subtotal, invoice.tax_total, invoice.total)
        for index, value in enumerate(values):
            row[index] += value
    for (code, currency), (count, lines, subtotal, tax, total) in sorted(totals.items()):
        table.add_row(
            code, currency, str(count), str(lines),
            _amount(subtotal, currency), _amount(tax, currency), _amount(total, currency),
        )  # fmt: skip
    return table


def _amount(value: Decimal, currency: str) -> str:
    """1234.5 GBP -> '1,234.50'; in the currency's minor unit (none for JPY)."""
    return f"{round_money(value, currency):,}"


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} {value!r} is not a date in the form YYYY-MM-DD") from None


def main() -> None:  # pragma: no cover - the console script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
