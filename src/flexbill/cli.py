"""The command line: ``flexbill ...``."""

from __future__ import annotations

import os
import secrets
import sys
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from flexbill.sandbox.cli import sandbox_app

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from flexbill.invoicing.export import CodesT, DateOrder, ExportFilter, ImportTemplate
    from flexbill.notify.capture import CaptureServer

app = typer.Typer(
    help="flexbill: billing for flexible workspaces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold API keys and customer data
)
api_keys_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)
invoices_app = typer.Typer(help="Invoices.", no_args_is_help=True)
export_app = typer.Typer(help="Exports.", no_args_is_help=True)
users_app = typer.Typer(help="Staff users of the console at /admin.", no_args_is_help=True)
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(users_app, name="users")
app.add_typer(invoices_app, name="invoices")
app.add_typer(export_app, name="export")
app.add_typer(sandbox_app, name="sandbox")

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
    workers: Annotated[
        int, typer.Option(min=1, help="Web processes: one per CPU uses them all (the task worker stays in this one).")
    ] = 1,
) -> None:
    """Serve the REST API (and, as they arrive, the staff console and the members' portal)."""
    ctx = _context()
    capture = _mail_capture(ctx)
    try:
        _serve(ctx, host or ctx.settings.host, port or ctx.settings.port, workers)
    finally:
        if capture is not None:
            capture.stop()


def _mail_capture(ctx: Context) -> CaptureServer | None:
    """Without ``FLEXBILL_SMTP_HOST``, emails go to the local capture: start it, and point the mailer at the port
    it got (``FLEXBILL_MAIL_CAPTURE_PORT`` may be 0, any free port)."""
    from flexbill.notify.capture import CaptureError, start_capture

    if ctx.settings.smtp_host is not None:
        return None
    try:
        capture = start_capture(ctx.settings)
    except CaptureError as error:
        raise _fail(str(error)) from None
    ctx.settings = ctx.settings.model_copy(update={"mail_capture_port": capture.port})
    return capture


def _serve(ctx: Context, host: str, port: int, workers: int = 1) -> None:
    """Serve the web app; on the embedded default (``FLEXBILL_WORKER_IN_PROCESS``, on unless turned off) the task
    worker runs in the same process, so sync and email need nothing else running. With several web processes, each
    builds the app from the environment: the mail capture's port (perhaps found free just now) is put there."""
    import uvicorn

    from flexbill.web.app import create_app
    from flexbill.web.server import serve_in_processes, settle_heap
    from flexbill.worker import default_handlers, default_recurring, start_in_thread

    worker = None
    if ctx.settings.worker_in_process:
        worker = start_in_thread(ctx, default_handlers(ctx), recurring=default_recurring(ctx))
    try:
        if workers > 1:
            os.environ["FLEXBILL_MAIL_CAPTURE_PORT"] = str(ctx.settings.mail_capture_port)
            serve_in_processes(host, port, workers)
        else:
            web = create_app(ctx)
            settle_heap()
            uvicorn.run(web, host=host, port=port)
    finally:
        if worker is not None:
            worker.stop()


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


@users_app.command("create")
def create_user(
    email: Annotated[str, typer.Option(help="The address the user signs in with.")],
    role: Annotated[str, typer.Option(help="owner, admin, billing or read_only.")] = "owner",
    name: Annotated[str, typer.Option(help="The name shown in the console (default: the email).")] = "",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="FLEXBILL_NEW_USER_PASSWORD",
            help="At least 12 characters; asked for when not given.",
        ),
    ] = "",
) -> None:
    """Make a staff user (the first owner, typically) who signs in to the console at /admin."""
    from flexbill.access import audit
    from flexbill.access.model import Actor, ActorKind, parse_role
    from flexbill.access.service import create_user as make_user

    ctx = _context()
    try:
        with ctx.sessions() as db, db.begin():
            audit.act_as(db, Actor(ActorKind.SYSTEM, "flexbill users create"))
            user = make_user(db, email=email, name=name, role=parse_role(role), password=password)
    except FlexbillError as error:
        raise _fail(f"{error.field}: {error.message}" if error.field else error.message) from None
    console.print(f"Staff user {user.email} ({user.role}) made: sign in at /admin.")


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
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "--output",
            help="The CSV file to write. With --format xero or quickbooks, a file (several files go next to it, "
            "named after it) or a folder (the files get their own names).",
        ),
    ],
    date_from: Annotated[str | None, typer.Option("--from", help="First issue date.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last issue date (inclusive).")] = None,
    location: Annotated[str | None, typer.Option(help="A location code.")] = None,
    status: Annotated[str | None, typer.Option(help="Only invoices in this status.")] = None,
    export_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="flexbill (its own columns), xero (Xero's sales invoice import template) or quickbooks "
            "(QuickBooks Online's invoice import columns).",
        ),
    ] = "flexbill",
    date_order: Annotated[
        str | None,
        typer.Option(
            "--date-order",
            help="With --format xero or quickbooks: dmy writes dates DD/MM/YYYY (the default); mdy writes "
            "MM/DD/YYYY, for organisations in the US.",
        ),
    ] = None,
) -> None:
    """Write the invoices as CSV, one row per line (columns in docs/api.md).

    With --format xero the rows follow Xero's sales invoice import template (Business > Invoices > Import).
    Xero asks, when importing a file, whether its amounts are tax exclusive or tax inclusive, and takes at most
    500 invoices from one file: so the invoices of locations whose prices include tax go in files of their own,
    and every 500 invoices start a new file (an invoice is never split). The command lists each file it wrote
    with the answer to give Xero for it. Drafts have no number yet and cannot be exported for Xero.

    With --format quickbooks the rows carry QuickBooks Online's invoice import columns (Invoice no, Customer,
    Invoice date, Due date, Terms, Location, Memo, Item(Product/Service), Item description, Item quantity, Item
    rate, Item amount, Item tax code, Item tax amount, Service date, Currency code), for Settings > Import data >
    Invoices. The files are split in the same way, at 100 invoices per file; the command says which date format
    and which tax answer to choose at import. Drafts cannot be exported for QuickBooks either.
    """
    from flexbill.bootstrap import quickbooks_codes_for, xero_codes_for
    from flexbill.invoicing.export import (
        QUICKBOOKS,
        XERO,
        DateOrder,
        ExportFilter,
        ExportFormat,
        invoice_rows,
        to_csv_text,
    )
    from flexbill.invoicing.model import InvoiceStatus

    if status is not None and status not in {s.value for s in InvoiceStatus}:
        raise _fail(f"--status {status!r} is not one of {', '.join(s.value for s in InvoiceStatus)}")
    if export_format not in {f.value for f in ExportFormat}:
        raise _fail(f"--format {export_format!r} is not one of {', '.join(f.value for f in ExportFormat)}")
    if date_order is not None and date_order not in {d.value for d in DateOrder}:
        raise _fail(f"--date-order {date_order!r} is not one of {', '.join(d.value for d in DateOrder)}")
    chosen = ExportFormat(export_format)
    if date_order is not None and chosen is ExportFormat.FLEXBILL:
        raise _fail("--date-order applies only to --format xero or quickbooks (flexbill's has YYYY-MM-DD dates)")
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
    order = DateOrder(date_order or DateOrder.DMY)
    if chosen is ExportFormat.XERO:
        _export_template(ctx, export, XERO, xero_codes_for, out, order)
        console.print(
            "Import in Xero with Business > Invoices > Import, one file at a time; when Xero asks whether the "
            "amounts are tax exclusive or tax inclusive, answer as listed for the file.",
            soft_wrap=True,
        )
        return
    if chosen is ExportFormat.QUICKBOOKS:
        _export_template(ctx, export, QUICKBOOKS, quickbooks_codes_for, out, order)
        console.print(
            "Import in QuickBooks Online with Settings > Import data > Invoices, one file at a time, with custom "
            "transaction numbers turned on (or QuickBooks numbers the invoices itself); choose the date format "
            f"{order.pattern}, and answer whether the amounts are exclusive or inclusive of tax as listed for the "
            "file.",
            soft_wrap=True,
            highlight=False,
        )
        return
    lines = 0
    with ctx.readers() as db, out.open("w", encoding="utf-8", newline="") as handle:
        for chunk in to_csv_text(invoice_rows(db, export)):
            handle.write(chunk)
            lines += chunk.count("\r\n")
    console.print(f"Wrote {max(lines - 1, 0)} invoice lines to {out}.")


def _export_template(
    ctx: Context,
    export: ExportFilter,
    template: ImportTemplate[CodesT],
    codes_for: Callable[[Context, Session], Callable[[uuid.UUID], CodesT]],
    out: Path,
    date_order: DateOrder,
) -> None:
    """Check, plan and write an import template's files from one snapshot, and list each file written."""
    from flexbill.invoicing.export import plan_export, repeatable_reads, write_files

    with ctx.readers() as db:
        repeatable_reads(db)
        codes = codes_for(ctx, db)
        try:
            plan = plan_export(db, export, template, codes)
        except FlexbillError as error:
            raise _fail(error.message) from None
        written = write_files(db, export, template, plan, codes, out, date_order)
    for done in written:
        console.print(
            f"Wrote {done.path}: {done.file.invoices} invoices, {done.lines} lines; "
            f"amounts are {done.file.amount_type.choice}.",
            highlight=False,
            soft_wrap=True,
        )


DEMO_OWNER = "owner@flexbill.example"


def _demo_member_email(db: Session) -> str | None:
    """A member of the sample space with something to pay, to show the portal with."""
    from flexbill.invoicing.model import OPEN_STATUSES
    from flexbill.invoicing.store import InvoiceRow

    return db.scalar(
        select(InvoiceRow.bill_to_email)
        .where(InvoiceRow.status.in_([status.value for status in OPEN_STATUSES]))
        .order_by(InvoiceRow.bill_to_email)
        .limit(1)
    )


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="Port to serve on.")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build the sample space, then stop.")] = False,
    sandbox_port: Annotated[
        int | None, typer.Option(help="Port of the sandboxes (Xero, Stripe) the demo runs on (default: port + 1).")
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option(help="How much faster the sandbox's clock runs (rate-limit windows); 1 is Xero's own pace."),
    ] = 60.0,
    quickbooks: Annotated[
        str | None,
        typer.Option(
            "--quickbooks",
            metavar="LOCATION",
            help="Keep this sample location's books (LON or BER) in the QuickBooks Online sandbox, the rest in Xero.",
        ),
    ] = None,
) -> None:
    """Build a sample coworking space in a fresh embedded database, keep its books in a local Xero sandbox (or one
    location's in a local QuickBooks Online sandbox), charge its members' cards in a local Stripe sandbox, bill
    it, sync it, and serve the API."""
    from flexbill.access.model import Role
    from flexbill.access.service import create_api_key
    from flexbill.access.service import create_user as make_user
    from flexbill.accounting.service import pending_records
    from flexbill.demo import (
        DEMO_LOCATIONS,
        HISTORY_MONTHS,
        build_demo_space,
        connect_demo_books,
        connect_demo_to_stripe,
    )
    from flexbill.migrations import upgrade
    from flexbill.payments.charging import run_due
    from flexbill.sandbox.server import start_sandbox
    from flexbill.settings import get_settings
    from flexbill.worker import Worker, default_handlers

    on_quickbooks = [quickbooks.upper()] if quickbooks else []
    if on_quickbooks and on_quickbooks[0] not in DEMO_LOCATIONS:
        raise _fail(f"--quickbooks takes a location of the sample space: {' or '.join(DEMO_LOCATIONS)}")
    on_xero = [code for code in DEMO_LOCATIONS if code not in on_quickbooks]
    settings = get_settings()
    demo_dir = settings.data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    database = demo_dir / "flexbill.sqlite3"
    for stale in demo_dir.glob("flexbill.sqlite3*"):
        stale.unlink()
    settings = settings.model_copy(update={"database_url": f"sqlite:///{database}"})
    if "mail_capture_port" not in settings.model_fields_set:  # the demo's worker is in-process: any port will do
        settings = settings.model_copy(update={"mail_capture_port": 0})
    serve_port = port or settings.port
    settings = settings.model_copy(update={"port": serve_port})
    url = f"http://{settings.host}:{serve_port}"
    ctx = build_context(settings)
    upgrade(ctx.engine)
    capture = _mail_capture(ctx)
    sandbox = start_sandbox(host=settings.host, port=sandbox_port or serve_port + 1, time_scale=time_scale)
    try:
        cards = 0

        def connect() -> None:
            nonlocal cards
            books = {"xero": (sandbox.xero_url, on_xero)}
            if on_quickbooks:
                books["quickbooks"] = (sandbox.quickbooks_url, on_quickbooks)
            connect_demo_books(ctx, books, f"{url}/accounting/callback")
            cards = connect_demo_to_stripe(ctx, sandbox.stripe_url, f"{url}/webhooks/stripe")

        with console.status("Building the sample space: billing, syncing and charging three months..."):
            space = build_demo_space(
                ctx.sessions, ctx.clock, before_billing=connect, on_due_date=lambda day: run_due(ctx, day)
            )
        with ctx.sessions() as db, db.begin():
            key = create_api_key(db, "demo").key
            owner_password = secrets.token_urlsafe(12)
            make_user(db, email=DEMO_OWNER, name="Demo Owner", role=Role.OWNER, password=owner_password)
            member_email = _demo_member_email(db)
        with console.status("Syncing the sample space to the accounting sandboxes..."):
            Worker(ctx, default_handlers(ctx)).run_until_idle()
        with ctx.readers() as db:
            waiting = sum(len(records) for records in pending_records(db).values())

        table = _bill_run_table(f"Sample space, bill run of {space.billing_day.isoformat()}", space.bill_run)
        console.print(
            f"A fresh sample space (made anew each time): {space.customers} customers, {space.memberships} "
            f"memberships and {space.fees} fees, with {HISTORY_MONTHS} months of history.",
            soft_wrap=True,
        )
        console.print(table)
        counts = sandbox.xero.state()["counts"]
        console.print(
            f"Books of {', '.join(on_xero)} kept in the Xero sandbox at {sandbox.xero_url} ({time_scale:g}x time): "
            f"{counts['invoices']} invoices, {counts['contacts']} contacts, {counts['payments']} payments"
            + (f"; {waiting} records still to send (the worker carries on)." if waiting else "."),
            soft_wrap=True,
        )
        if on_quickbooks:
            held = sandbox.quickbooks.state()["counts"]
            console.print(
                f"Books of {on_quickbooks[0]} kept in the QuickBooks Online sandbox at {sandbox.quickbooks_url}: "
                f"{held.get('Invoice', 0)} invoices, {held.get('Customer', 0)} customers, "
                f"{held.get('Payment', 0)} payments.",
                soft_wrap=True,
            )
        stripe_counts = _demo_charges(ctx)
        console.print(
            f"Cards charged in the Stripe sandbox at {sandbox.stripe_url} on each due date: {cards} members saved "
            f"one; {stripe_counts.get('succeeded', 0)} charges succeeded, {stripe_counts.get('failed', 0)} were "
            f"declined, {stripe_counts.get('requires_action', 0)} need the member (3-D Secure).",
            soft_wrap=True,
        )
        console.print(
            f"Staff console: {url}/admin, signed in as [bold]{DEMO_OWNER}[/bold] with password "
            f"[bold]{owner_password}[/bold] (an owner)",
            soft_wrap=True,
        )
        if member_email:
            console.print(
                f"Members' portal: {url}/portal, signed in as [bold]{member_email}[/bold] (a member with unpaid "
                f"invoices): the sign-in link arrives at {url}/mail, seen signed in as the owner",
                soft_wrap=True,
            )
        console.print(f"API key (read and write): [bold]{key}[/bold]", soft_wrap=True)
        console.print(f"Try:  curl -H 'Authorization: Bearer {key}' '{url}/api/v1/invoices?limit=2'", soft_wrap=True)
        console.print(f"CLI:  export FLEXBILL_DATABASE_URL={settings.database_url}", soft_wrap=True)
        console.print(f"API reference: {url}/api/v1/docs", soft_wrap=True)
        console.print(f"Sandbox state: {sandbox.xero_url}/_sandbox/state", soft_wrap=True)
        if on_quickbooks:
            console.print(f"QuickBooks sandbox state: {sandbox.quickbooks_url}/_sandbox/state", soft_wrap=True)
        if capture is not None:
            console.print(
                f"Mail: {url}/mail (for staff: what was emailed, caught by the local mail capture in "
                f"{capture.directory}; nothing is delivered)",
                soft_wrap=True,
            )
        if no_serve:
            return
        _serve(ctx, settings.host, serve_port)
    finally:
        sandbox.stop()
        if capture is not None:
            capture.stop()


def _demo_charges(ctx: Context) -> dict[str, int]:
    from sqlalchemy import func, select

    from flexbill.payments.store import ChargeAttemptRow

    with ctx.readers() as db:
        rows = db.execute(select(ChargeAttemptRow.status, func.count()).group_by(ChargeAttemptRow.status)).all()
        return {str(row[0]): int(row[1]) for row in rows}


@app.command()
def sync(
    invoice: Annotated[
        list[str] | None, typer.Option("--invoice", help="An invoice number or id to send (repeat for more).")
    ] = None,
    all_pending: Annotated[
        bool, typer.Option("--all-pending", help="Send every invoice, payment and credit note not yet in the books.")
    ] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="With --all-pending: failed ones too.")] = False,
    wait: Annotated[int, typer.Option(help="Give up waiting after this many seconds.")] = 600,
) -> None:
    """Send invoices to the accounting system now and wait for the result (the manual sync mode, and retries).

    The sending is done by the same tasks the worker runs: a worker running elsewhere may take some of them,
    and this command waits for those too."""
    from datetime import timedelta

    from flexbill.accounting.runner import run_and_wait, sync_report
    from flexbill.accounting.service import pending_records, request_sync

    if not invoice and not all_pending:
        raise _fail("name invoices with --invoice NUMBER (repeatable), or use --all-pending")
    ctx = _context()
    try:
        with ctx.sessions() as db, db.begin():
            targets = pending_records(db, retry_failed=retry_failed) if all_pending else {}
            keys = request_sync(db, ctx, invoice or [], targets)
    except FlexbillError as error:
        raise _fail(error.message) from None
    if not keys:
        console.print("Nothing to send: everything asked for is already in the books.")
        return
    console.print(f"Sending {len(keys)} record(s) to the accounting system...")
    waited = run_and_wait(ctx, keys, timeout=timedelta(seconds=wait))
    table = Table("kind", "number", "sync", "number in the books", "error")
    for row in sync_report(ctx, keys):
        table.add_row(*row)
    console.print(table)
    failed = [info for info in waited.tasks.values() if info.status == "failed"]
    if waited.paused:
        raise _fail(
            f"the connection's work is paused, {waited.paused}; reconnect it (POST .../connections/ID/reconnect)"
        )
    if waited.timed_out or waited.unfinished:
        raise _fail(f"{len(waited.unfinished)} record(s) are still waiting (a rate limit or a retry); run again later")
    if failed:
        raise _fail(f"{len(failed)} record(s) failed; the errors are above and in each record's sync log")


@app.command("run-due")
def run_due(
    day: Annotated[str, typer.Option("--date", help="The day to run (YYYY-MM-DD); default: today.")] = "",
    wait: Annotated[int, typer.Option(help="Give up waiting after this many seconds.")] = 600,
) -> None:
    """Do a day's due-date work now and wait for it: charge the saved payment methods of invoices due that day
    (and retry declined ones whose day has come), send reminders. Running a day twice charges nothing twice."""
    from datetime import timedelta

    from flexbill.payments.charging import run_due as run_due_work

    ctx = _context()
    when = _parse_date(day, "--date") if day else ctx.clock.now().date()
    try:
        report = run_due_work(ctx, when, timeout=timedelta(seconds=wait))
    except FlexbillError as error:
        raise _fail(error.message) from None
    total = sum(report.charges.values())
    console.print(f"Due-date work of {when.isoformat()}: {total} charge(s), {report.reminders} reminder(s).")
    if total:
        table = Table("outcome", "charges")
        for status, count in sorted(report.charges.items()):
            table.add_row(status, str(count))
        console.print(table)
    if report.unfinished:
        raise _fail(f"{report.unfinished} charge(s) are still being checked with the gateway; the worker goes on")


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


@app.command("worker")
def run_worker(
    once: Annotated[bool, typer.Option("--once", help="Run every task due now, then stop.")] = False,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval", min=0.05,
            help="Seconds between looks for new work when idle (it wakes sooner when a task falls due).",
        ),
    ] = 1.0,
) -> None:  # fmt: skip
    """Run the outbox's tasks (accounting sync, emails, charges, webhooks) as they fall due, until Ctrl-C or
    SIGTERM. Any number of workers may run at once, on any machines sharing the database."""
    import signal
    import threading
    from datetime import datetime

    from rich.markup import escape

    from flexbill.worker import BatchReport, Worker, default_handlers, default_recurring

    ctx = _context()
    handlers = default_handlers(ctx)
    if not handlers:
        errors.print("[yellow]No task handlers are registered: there is nothing for this worker to run.[/yellow]")

    def show(report: BatchReport) -> None:
        colour = "red" if report.failed or report.error else "yellow" if report.retried or report.stale else "green"
        stamp = datetime.now().astimezone().strftime("%H:%M:%S")  # when it ran here, whatever the business clock says
        console.print(f"{stamp} [{colour}]{escape(report.describe())}[/{colour}]", highlight=False, soft_wrap=True)

    worker = Worker(ctx, handlers, poll_interval=poll_interval, recurring=default_recurring(ctx), on_batch=show)
    if once:
        summary = worker.run_until_idle()
        batches = f"{summary.batches} batch{'es' * (summary.batches != 1)}"
        console.print(
            f"{summary.ran} task{'s' * (summary.ran != 1)} ran in {batches}: {summary.done} done, "
            f"{summary.retried} to retry, {summary.failed} failed.",
            highlight=False,
        )
        return

    stop = threading.Event()

    def on_signal(_signal: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: stop now; the batch in hand runs again when its lease expires
            raise KeyboardInterrupt
        errors.print("Stopping after the batch in hand (Ctrl-C again to stop at once).")
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # One line however many handlers there are (soft_wrap): scripts and tests wait for "Ctrl-C stops it".
    errors.print(
        f"Worker {worker.worker_id}: {', '.join(sorted(handlers)) or 'no handlers'}. Ctrl-C stops it.", soft_wrap=True
    )
    try:
        worker.run_forever(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    errors.print("Worker stopped.")


def main() -> None:  # pragma: no cover - the console script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
