"""`flexbill import`: customers, memberships and fees from CSV files, every row or none."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from flexbill.billing.service import BillingRulesChanges, update_billing_rules
from flexbill.bootstrap import Context
from flexbill.catalog import service as catalog
from flexbill.catalog.store import RevenueAccountRow
from flexbill.cli import app
from flexbill.customers import service as customers
from flexbill.customers.store import CustomerRow, FeeRow, MembershipRow
from flexbill.errors import InvalidInput
from flexbill.importing import (
    ImportKind,
    ImportProblem,
    ImportRejected,
    import_customers,
    import_fees,
    import_file,
    import_memberships,
)
from flexbill.settings import get_settings
from tests.support import Catalog, make_catalog, make_customer

CUSTOMERS_HEADER = (
    "name,kind,email,address_line1,address_line2,city,region,postal_code,country,tax_number,home_location,tax_rate\n"
)


@pytest.fixture
def cat(ctx: Context) -> Catalog:
    with ctx.sessions() as db, db.begin():
        return make_catalog(db)


def count(ctx: Context, model: type[CustomerRow] | type[MembershipRow] | type[FeeRow]) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def rejected(ctx: Context, kind: ImportKind, source: Path | str | bytes) -> list[ImportProblem]:
    with pytest.raises(ImportRejected) as caught, ctx.sessions() as db, db.begin():
        import_file(db, kind, source)
    assert "nothing was imported" in caught.value.message
    return list(caught.value.problems)


def where(problems: list[ImportProblem]) -> list[tuple[int | None, str | None]]:
    return [(p.row, p.column) for p in problems]


# --- good files ------------------------------------------------------------------------------------------------


def test_a_customers_file_imports_every_row(ctx: Context, cat: Catalog) -> None:
    text = CUSTOMERS_HEADER + (
        "Acme Ltd,company,billing@acme.test,1 Main Street,Floor 2,London,,EC1A 1AA,gb,GB123456789,LON,\n"
        "Jo Bloggs,individual,jo@bloggs.test,,,,,,,,LON,ZERO-LON\n"
        'Zed & Co,,  zed@zed.test  ,"12, The Yard",,Leeds,West Yorkshire,LS1 1AA,GB,,LON,\n'
    )
    with ctx.sessions() as db, db.begin():
        report = import_customers(db, text)
    assert report.count == 3
    assert report.summary() == "Imported 3 customers from the CSV text"

    with ctx.sessions() as db:
        acme, jo, zed = (customers.get_customer(db, customer_id) for customer_id in report.ids)
        assert (acme.name, acme.kind, acme.email) == ("Acme Ltd", "company", "billing@acme.test")
        assert (acme.address_line1, acme.address_line2, acme.city, acme.region) == (
            "1 Main Street", "Floor 2", "London", None,
        )  # fmt: skip
        assert (acme.postal_code, acme.country, acme.tax_number) == ("EC1A 1AA", "GB", "GB123456789")
        assert (acme.home_location_id, acme.tax_rate_id) == (cat.location_id, None)
        assert (jo.kind, jo.address_line1, jo.country, jo.tax_rate_id) == ("individual", None, None, cat.zero_id)
        # An empty kind is "not given", so the default applies; cells are trimmed; a quoted comma stays in its cell.
        assert (zed.name, zed.kind, zed.email, zed.address_line1) == (
            "Zed & Co",
            "company",
            "zed@zed.test",
            "12, The Yard",
        )
    assert count(ctx, CustomerRow) == 3


def test_importing_the_same_customers_twice_is_rejected_whole(ctx: Context, cat: Catalog) -> None:
    """Later files find customers by email, so an import never makes a second customer with a taken email."""
    text = CUSTOMERS_HEADER + "Acme Ltd,company,billing@acme.test,,,,,,,,LON,\nJo Bloggs,,jo@bloggs.test,,,,,,,,LON,\n"
    with ctx.sessions() as db, db.begin():
        import_customers(db, text)
    again = text + "Zed & Co,,zed@zed.test,,,,,,,,LON,\nZed Two,,zed@zed.test,,,,,,,,LON,\n"
    problems = rejected(ctx, ImportKind.customers, again)
    assert [(p.row, p.column, p.message) for p in problems] == [
        (2, "email", "a customer with the email 'billing@acme.test' exists already"),
        (3, "email", "a customer with the email 'jo@bloggs.test' exists already"),
        (5, "email", "a customer with the email 'zed@zed.test' exists already"),
    ]
    assert count(ctx, CustomerRow) == 2


def test_a_memberships_file_imports_every_row(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        acme = make_customer(db, cat, "Acme Ltd")  # acme@example.com
        jo = make_customer(db, cat, "Jo Bloggs")  # jo@example.com
    text = (
        "customer_email,customer_id,plan,location,start_date,end_date,quantity,price,discount_type,discount_value\n"
        "acme@example.com,,Hot desk,LON,2026-11-10,,,,,\n"
        f",{jo},Hot desk,LON,2026-12-01,2027-02-28,2,250.50,percent,10\n"
        f"jo@example.com,{jo},Hot desk,LON,2027-01-01,2027-01-31,1,,amount,25.00\n"
    )
    with ctx.sessions() as db, db.begin():
        report = import_memberships(db, text)
    assert report.summary() == "Imported 3 memberships from the CSV text"

    with ctx.sessions() as db:
        first, second, third = (customers.get_membership(db, membership_id) for membership_id in report.ids)
        assert (first.customer_id, first.plan_id, first.location_id) == (acme, cat.hot_desk_id, cat.location_id)
        assert (first.start_date, first.end_exclusive, first.quantity, first.price) == (
            date(2026, 11, 10), None, Decimal(1), None,
        )  # fmt: skip
        assert first.discount_type is None
        # The end date in the file is the last day of membership; stored as the day after.
        assert (second.customer_id, second.start_date, second.end_exclusive) == (
            jo,
            date(2026, 12, 1),
            date(2027, 3, 1),
        )
        assert (second.quantity, second.price, second.discount_type, second.discount_value) == (
            Decimal(2), Decimal("250.50"), "percent", Decimal(10),
        )  # fmt: skip
        assert (third.customer_id, third.discount_type, third.discount_value) == (jo, "amount", Decimal("25.00"))


def test_a_fees_file_imports_every_row(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        acme = make_customer(db, cat, "Acme Ltd")
    text = (
        "customer_email,location,date,description,quantity,unit_price,revenue_account,tax_rate,currency\n"
        'acme@example.com,LON,2026-11-20,"Meeting room, 2 hours",2,25.00,210-LON,,GBP\n'
        "acme@example.com,LON,2026-11-21,Printing,,0.1234,210-LON,ZERO-LON,\n"
    )
    with ctx.sessions() as db, db.begin():
        report = import_fees(db, text)
    assert report.count == 2

    with ctx.sessions() as db:
        room, printing = (customers.get_fee(db, fee_id) for fee_id in report.ids)
        assert (room.customer_id, room.location_id, room.date, room.description) == (
            acme, cat.location_id, date(2026, 11, 20), "Meeting room, 2 hours",
        )  # fmt: skip
        assert (room.quantity, room.unit_price, room.revenue_account_id, room.tax_rate_id) == (
            Decimal(2), Decimal("25.00"), cat.fees_account_id, None,
        )  # fmt: skip
        assert (printing.quantity, printing.unit_price, printing.tax_rate_id) == (
            Decimal(1), Decimal("0.1234"), cat.zero_id,
        )  # fmt: skip


def test_a_file_with_a_byte_order_mark_and_windows_line_ends_imports(
    ctx: Context, cat: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes("\ufeffName,Email,Home_Location\r\nCafé Olé,olé@example.com,LON\r\n".encode())
    with ctx.sessions() as db, db.begin():
        report = import_file(db, "customers", path)
    assert report.summary() == f"Imported 1 customer from {path}"
    with ctx.sessions() as db:
        row = customers.get_customer(db, report.ids[0])
        assert (row.name, row.email) == ("Café Olé", "olé@example.com")


def test_a_header_only_file_imports_nothing(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        report = import_customers(db, "name,email,home_location\n")
    assert report.count == 0
    assert report.summary() == "Imported 0 customers from the CSV text"


def test_the_documented_examples_import(ctx: Context) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "import.md").read_text(encoding="utf-8")
    examples = re.findall(r"```csv\n(.*?)```", docs, flags=re.DOTALL)
    assert len(examples) == 3
    with ctx.sessions() as db, db.begin():
        for code in ("LON", "LDS"):
            catalog.create_location(db, catalog.NewLocation(name=code, code=code, currency="GBP"))
        vat = catalog.create_tax_rate(
            db,
            catalog.NewTaxRate(
                name="VAT", code="VAT20", components=[catalog.NewTaxComponent(name="VAT", rate=Decimal(20))]
            ),
        )
        catalog.create_tax_rate(
            db,
            catalog.NewTaxRate(
                name="None", code="ZERO", components=[catalog.NewTaxComponent(name="VAT", rate=Decimal(0))]
            ),
        )
        for account in ("200", "210"):
            catalog.create_revenue_account(
                db, catalog.NewRevenueAccount(name=account, code=account, tax_rate_id=vat.id)
            )
        memberships_account = db.scalar(select(RevenueAccountRow.id).where(RevenueAccountRow.code == "200"))
        assert memberships_account is not None
        for plan in ("Hot desk", "Dedicated desk", "Private office (4)"):
            catalog.create_plan(
                db, catalog.NewPlan(name=plan, price=Decimal("300.00"), revenue_account_id=memberships_account)
            )
    for kind, example in zip(ImportKind, examples, strict=True):
        with ctx.sessions() as db, db.begin():
            assert import_file(db, kind, example).count == 3, kind
    assert (count(ctx, CustomerRow), count(ctx, MembershipRow), count(ctx, FeeRow)) == (3, 3, 3)


# --- bad files -------------------------------------------------------------------------------------------------


def test_a_file_with_several_bad_rows_is_rejected_whole_with_every_problem(ctx: Context, cat: Catalog) -> None:
    text = (
        CUSTOMERS_HEADER
        + (
            "Good One,company,one@example.com,,,,,,GB,,LON,\n"  # row 2: good
            "Bad Two,partner,not-an-email,,,,,,GBR,,MAN,\n"  # row 3: kind, email, country, home_location
            "Good Three,individual,three@example.com,,,,,,,,LON,VAT20-LON\n"  # row 4: good
            ",company,four@example.com,,,,,,,,LON,NOPE\n"  # row 5: name missing, tax_rate unknown
            "\n"  # row 6: blank, skipped but counted
            "Bad Seven,company,seven@example.com,,,,," + "X" * 21 + ",,,LON,\n"  # row 7: postal code too long
            "Bad Eight,company,eight@example.com,,,,,,,,LON\n"  # row 8: a cell short
        )
    )
    problems = rejected(ctx, ImportKind.customers, text)

    assert where(problems) == [
        (3, "kind"),
        (3, "email"),
        (3, "country"),
        (3, "home_location"),
        (5, "name"),
        (5, "tax_rate"),
        (7, "postal_code"),
        (8, None),
    ]
    messages = [p.message for p in problems]
    assert messages[0] == "'partner': input should be 'company' or 'individual'"
    assert messages[1].startswith("'not-an-email' is not an email address")
    assert messages[2] == "a country is a 2-letter ISO 3166 code such as GB, not 'GBR'"
    assert messages[3] == "no location has the code 'MAN'"
    assert messages[4] == "is required, but the cell is empty"
    assert messages[5] == "no tax rate has the code 'NOPE'"
    assert "at most 20 characters" in messages[6]
    assert messages[7] == "has 11 cells but the header has 12 columns"
    # Nothing was written, not even the good rows 2 and 4.
    assert count(ctx, CustomerRow) == 0


def test_a_rejected_file_leaves_nothing_behind_even_if_the_caller_commits(ctx: Context, cat: Catalog) -> None:
    text = "name,email,home_location\nGood,good@example.com,LON\nBad,bad@example.com,NOWHERE\n"
    with ctx.sessions() as db, db.begin():
        with pytest.raises(ImportRejected) as caught:
            import_customers(db, text)
        make_customer(db, cat, "Kept Ltd")  # the caller's own work goes on and is committed
    assert where(list(caught.value.problems)) == [(3, "home_location")]
    with ctx.sessions() as db:
        assert [row.name for row in db.scalars(select(CustomerRow))] == ["Kept Ltd"]


def test_unknown_and_missing_columns_are_named(ctx: Context, cat: Catalog) -> None:
    problems = rejected(ctx, ImportKind.customers, "nmae,email,home_location,colour,Email\nAcme,a@b.test,LON,red,x\n")
    assert where(problems) == [(1, "nmae"), (1, "colour"), (1, "email"), (1, "name")]
    assert problems[0].message.startswith("is not a column of a customers file; the columns are name, kind, email")
    assert problems[2].message == "appears twice in the header"
    assert problems[3].message == "is a required column but the header lacks it"

    problems = rejected(ctx, ImportKind.memberships, "plan,location\nHot desk,LON\n")
    assert where(problems) == [(1, "customer_email or customer_id"), (1, "start_date")]


def test_a_file_that_is_not_utf8_or_empty_or_uses_semicolons_is_rejected(ctx: Context, cat: Catalog) -> None:
    latin1 = "name,email,home_location\nCafé,cafe@example.com,LON\n".encode("latin-1")
    [problem] = rejected(ctx, ImportKind.customers, latin1)
    assert (problem.row, problem.column) == (None, None)
    assert problem.message.startswith("the file is not UTF-8 text (byte 0xe9 on line 2)")

    [problem] = rejected(ctx, ImportKind.fees, b"")
    assert problem.message.startswith("the file is empty")

    [problem] = rejected(ctx, ImportKind.customers, "name;email;home_location\nAcme;a@b.test;LON\n")
    assert (problem.row, problem.message) == (1, "columns must be separated by commas, not semicolons")


def test_rows_are_numbered_as_a_spreadsheet_shows_them(ctx: Context, cat: Catalog) -> None:
    # A quoted line break keeps a record on one spreadsheet row; blank rows still count.
    text = 'name,email,home_location,address_line1\nAcme,a@acme.test,LON,"line one\nline two"\n\n\nBad,b@bad.test,XX,\n'
    [problem] = rejected(ctx, ImportKind.customers, text)
    assert (problem.row, problem.column) == (5, "home_location")


def test_an_unknown_location_code_is_reported_on_its_column(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        make_customer(db, cat, "Acme Ltd")
    text = (
        "customer_email,plan,location,start_date\n"
        "acme@example.com,Hot desk,LON,2026-11-01\n"
        "acme@example.com,Hot desk,PAR,2026-11-01\n"
        "acme@example.com,Hot desk,lon,2026-11-01\n"
    )
    problems = rejected(ctx, ImportKind.memberships, text)
    assert [(p.row, p.column, p.message) for p in problems] == [
        (3, "location", "no location has the code 'PAR'"),
        (4, "location", "no location has the code 'lon'"),
    ]
    assert count(ctx, MembershipRow) == 0


def test_an_ambiguous_plan_name_is_an_error(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        make_customer(db, cat, "Acme Ltd")
        catalog.create_plan(
            db, catalog.NewPlan(name="Hot desk", price=Decimal("350.00"), revenue_account_id=cat.memberships_account_id)
        )
    text = "customer_email,plan,location,start_date\nacme@example.com,Hot desk,LON,2026-11-01\n"
    [problem] = rejected(ctx, ImportKind.memberships, text)
    assert (problem.row, problem.column) == (2, "plan")
    assert "'Hot desk' is ambiguous" in problem.message


def test_dates_before_the_lock_date_are_rejected(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        make_customer(db, cat, "Acme Ltd")
        update_billing_rules(db, BillingRulesChanges(lock_date=date(2026, 10, 1)))
    memberships = (
        "customer_email,plan,location,start_date\n"
        "acme@example.com,Hot desk,LON,2026-10-01\n"
        "acme@example.com,Hot desk,LON,2026-09-30\n"
    )
    [problem] = rejected(ctx, ImportKind.memberships, memberships)
    assert (problem.row, problem.column) == (3, "start_date")
    assert problem.message.startswith("start_date 2026-09-30 is before the lock date 2026-10-01")

    fees = (
        "customer_email,location,date,description,unit_price,revenue_account\n"
        "acme@example.com,LON,2026-09-15,Printing,1.00,210-LON\n"
    )
    [problem] = rejected(ctx, ImportKind.fees, fees)
    assert (problem.row, problem.column) == (2, "date")
    assert "before the lock date" in problem.message
    assert (count(ctx, MembershipRow), count(ctx, FeeRow)) == (0, 0)


def test_membership_rules_are_the_api_rules_and_land_on_their_columns(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        acme = make_customer(db, cat, "Acme Ltd")
        make_customer(db, cat, "Acme Two")  # acme@example.com too: the email is ambiguous
        make_customer(db, cat, "Jo Bloggs")
    text = (
        "customer_email,customer_id,plan,location,start_date,end_date,quantity,price,discount_type,discount_value\n"
        "jo@example.com,,Hot desk,LON,2026-12-01,2026-11-30,,,,\n"  # 2: end before start
        "jo@example.com,,Hot desk,LON,2026-12-01,,0,-1,,\n"  # 3: quantity, price
        "jo@example.com,,Hot desk,LON,01/12/2026,2026-02-30,,abc,percent,150\n"  # 4: dates, price, discount
        "nobody@example.com,,Desk,LON,2026-12-01,,,,,\n"  # 5: unknown customer and plan
        "acme@example.com,,Hot desk,LON,2026-12-01,,,,,\n"  # 6: two customers have this email
        f"jo@example.com,{acme},Hot desk,LON,2026-12-01,,,,,\n"  # 7: email and id disagree
        ",not-a-uuid,Hot desk,LON,2026-12-01,,,,,\n"  # 8: not an id
        ",00000000-0000-0000-0000-000000000000,Hot desk,LON,2026-12-01,,,,,\n"  # 9: no such customer
        "jo@example.com,,Hot desk,LON,2026-12-01,,,,percent,\n"  # 10: a discount type without its value
        "jo@example.com,,Hot desk,LON,2026-12-01,,,,percent,100.5\n"  # 11: more than 100%
        f",{acme},Hot desk,LON,2026-12-01,,,,,\n"  # 12: good
    )
    problems = rejected(ctx, ImportKind.memberships, text)
    assert [(p.row, p.column, p.message) for p in problems] == [
        (2, "end_date", "end_date 2026-11-30 is before start_date 2026-12-01"),
        (3, "quantity", "must be greater than zero"),
        (3, "price", "must not be negative"),
        (4, "start_date", "'01/12/2026' is not a date in the form YYYY-MM-DD"),
        (4, "end_date", "'2026-02-30' is not a date in the form YYYY-MM-DD"),
        (4, "price", "'abc' is not a decimal number"),
        (4, "discount_value", "a percentage discount cannot exceed 100"),
        (5, "customer_email", "no customer has the email 'nobody@example.com'"),
        (5, "plan", "no plan is named 'Desk'"),
        (6, "customer_email", "several customers have the email 'acme@example.com'; give their customer_id instead"),
        (7, "customer_id", "names a different record than customer_email"),
        (8, "customer_id", "'not-a-uuid' is not a customer id (a UUID)"),
        (9, "customer_id", "customer 00000000-0000-0000-0000-000000000000 does not exist"),
        (10, "discount_value", "discount_type and discount_value go together: give both or neither"),
        (11, "discount_value", "a percentage discount cannot exceed 100"),
    ]
    assert count(ctx, MembershipRow) == 0


def test_fee_rules_are_the_api_rules(ctx: Context, cat: Catalog) -> None:
    with ctx.sessions() as db, db.begin():
        make_customer(db, cat, "Acme Ltd")
    text = (
        "customer_email,location,date,description,quantity,unit_price,revenue_account,tax_rate,currency\n"
        "acme@example.com,LON,2026-11-20,Printing,1,1.00,210-LON,,EUR\n"  # 2: currency mismatch (the use case)
        "acme@example.com,LON,2026-11-20,,1,1.00555,999,VAT99,\n"  # 3: description, price places, codes
    )
    problems = rejected(ctx, ImportKind.fees, text)
    assert [(p.row, p.column, p.message) for p in problems] == [
        (2, "currency", "the fee is in EUR but location LON bills in GBP"),
        (3, "description", "is required, but the cell is empty"),
        (3, "unit_price", "at most 4 decimal places are allowed, got 1.00555"),
        (3, "revenue_account", "no revenue account has the code '999'"),
        (3, "tax_rate", "no tax rate has the code 'VAT99'"),
    ]
    assert count(ctx, FeeRow) == 0


def test_a_rejection_message_lists_the_first_problems(ctx: Context, cat: Catalog) -> None:
    text = "name,email,home_location\n" + "".join(f"C{i},c{i}@example.com,XX\n" for i in range(7))
    with pytest.raises(ImportRejected) as caught, ctx.sessions() as db, db.begin():
        import_customers(db, text)
    assert len(caught.value.problems) == 7
    assert caught.value.message.startswith("nothing was imported: 7 problems in 7 rows of the CSV text: ")
    assert "row 2, home_location: no location has the code 'XX'" in caught.value.message
    assert caught.value.message.endswith("; and 2 more")


# --- the command line ------------------------------------------------------------------------------------------


@pytest.fixture
def cli(ctx: Context) -> Iterator[CliRunner]:
    get_settings.cache_clear()
    assert ctx.settings.database_url
    yield CliRunner(env={"FLEXBILL_DATABASE_URL": ctx.settings.database_url})
    get_settings.cache_clear()


def test_the_import_command_imports_a_file(ctx: Context, cat: Catalog, cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "name,email,home_location\nAcme Ltd,billing@acme.test,LON\nJo Bloggs,jo@bloggs.test,LON\n", encoding="utf-8"
    )
    result = cli.invoke(app, ["import", "customers", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Imported 2 customers from {path}" in " ".join(result.stdout.split())

    fees = tmp_path / "fees.csv"
    fees.write_text(
        "customer_email,location,date,description,unit_price,revenue_account\n"
        "jo@bloggs.test,LON,2026-11-20,Day pass,15.00,210-LON\n",
        encoding="utf-8",
    )
    result = cli.invoke(app, ["import", "fees", str(fees)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 fee from" in result.stdout
    with ctx.sessions() as db:
        assert sorted(db.scalars(select(CustomerRow.email))) == ["billing@acme.test", "jo@bloggs.test"]
        [fee] = db.scalars(select(FeeRow))
        assert (fee.description, fee.unit_price) == ("Day pass", Decimal("15.00"))


def test_the_import_command_lists_every_problem_and_imports_nothing(
    ctx: Context, cat: Catalog, cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "name,email,home_location\nAcme Ltd,billing@acme.test,LON\n,bad,LON\nJo,jo@bloggs.test,NOWHERE\n",
        encoding="utf-8",
    )
    result = cli.invoke(app, ["import", "customers", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    err = result.stderr
    for heading in ("Row", "Column", "Problem"):
        assert heading in err, heading
    for fragment in ("name", "email", "home_location", "'bad' is not an email", "NOWHERE"):
        assert fragment in err, fragment
    rows = [line.split("│")[1].strip() for line in err.splitlines() if line.count("│") >= 3]
    assert [row for row in rows if row.isdigit()] == ["3", "3", "4"]
    assert "error: nothing was imported: 3 problems in 2 rows" in " ".join(err.split())
    assert count(ctx, CustomerRow) == 0


def test_an_unknown_kind_is_refused(ctx: Context, cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "plans.csv"
    path.write_text("name\nHot desk\n", encoding="utf-8")
    with (
        pytest.raises(InvalidInput, match="'plans' is not a kind of import: customers, memberships, fees"),
        ctx.sessions() as db,
    ):
        import_file(db, "plans", path)
    result = cli.invoke(app, ["import", "plans", str(path)])
    assert result.exit_code == 2
    assert "plans" in result.stderr
