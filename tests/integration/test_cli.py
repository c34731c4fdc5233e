"""The command line end to end, on the test database: migrate, keys, bill runs, listing, export and the demo."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flexbill.access.service import create_api_key, find_api_key
from flexbill.bootstrap import Context
from flexbill.cli import app
from flexbill.customers import service as customers
from flexbill.sandbox.server import running_sandbox
from flexbill.settings import get_settings
from tests.integration.test_payments import add_gateway, auto_charge, bill, member
from tests.support import make_catalog, make_customer

runner = CliRunner()


@pytest.fixture
def env(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("FLEXBILL_DATABASE_URL", str(ctx.settings.database_url))
    monkeypatch.setenv("FLEXBILL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLEXBILL_TODAY", "2026-11-26")
    monkeypatch.setenv("COLUMNS", "160")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def space(ctx: Context) -> None:
    from datetime import date
    from decimal import Decimal

    with ctx.sessions() as db, db.begin():
        cat = make_catalog(db)
        acme = make_customer(db, cat, "Acme Ltd")
        customers.create_membership(
            db,
            customers.NewMembership(
                customer_id=acme, plan_id=cat.hot_desk_id, location_id=cat.location_id, start_date=date(2026, 11, 10)
            ),
        )
        customers.create_fee(
            db,
            customers.NewFee(
                customer_id=acme, location_id=cat.location_id, date=date(2026, 11, 20), description="Meeting room",
                unit_price=Decimal("40.00"), revenue_account_id=cat.fees_account_id,
            ),
        )  # fmt: skip


def test_the_app_factory_serves_the_database_and_the_day_of_the_settings(env: None, space: None, ctx: Context) -> None:
    """``uvicorn flexbill.web.app:app_from_settings --factory`` builds the app in each worker from FLEXBILL_*."""
    from flexbill.web.app import app_from_settings

    with ctx.sessions() as db, db.begin():
        key = create_api_key(db, "factory").key
    app = app_from_settings()
    try:
        assert app.state.context.clock.today() == date(2026, 11, 26)
        with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
            listed = client.get("/api/v1/customers")
        assert listed.status_code == 200, listed.text
        assert [customer["name"] for customer in listed.json()["items"]] == ["Acme Ltd"]
    finally:
        app.state.context.engine.dispose()


def test_serve_with_several_web_processes_answers_from_the_settings_database_and_stops(
    env: None, space: None, ctx: Context, tmp_path: Path
) -> None:
    with ctx.sessions() as db, db.begin():
        key = create_api_key(db, "serve").key
    port = free_port()
    log = tmp_path / "serve.log"
    extra = {"FLEXBILL_WORKER_IN_PROCESS": "false", "FLEXBILL_MAIL_CAPTURE_PORT": "0"}
    command = [sys.executable, "-m", "flexbill.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*command, "--workers", "2"], env={**os.environ, **extra}, stdout=output, stderr=output,
            start_new_session=True,  # its own process group: stopped below with its web processes
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/healthz"):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        listed = httpx.get(f"{base}/api/v1/customers", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert listed.status_code == 200, listed.text
        assert [customer["name"] for customer in listed.json()["items"]] == ["Acme Ltd"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode == 0, log.read_text()
    assert "Started parent process" in log.read_text()  # uvicorn's supervisor of the web processes


def free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in (8000, 8001):
            return port


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    out = result.stdout
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        out += "".join(traceback.format_exception(result.exception))  # shown when a test fails
    return result.exit_code, out, result.stderr


def test_migrate_says_the_database_is_up_to_date(env: None) -> None:
    code, out, _ = invoke("migrate")
    assert code == 0
    assert "Database is up to date" in out


def test_api_keys_create_prints_the_key_alone_on_the_last_line(env: None, ctx: Context) -> None:
    code, out, _ = invoke("api-keys", "create", "--name", "website")
    assert code == 0
    key = out.strip().splitlines()[-1]
    assert key.startswith("fbk_")
    assert " " not in key
    with ctx.sessions() as db:
        row = find_api_key(db, key)
        assert row is not None
        assert (row.name, row.scopes) == ("website", "read write")


def test_bill_run_preview_writes_nothing_and_the_run_bills_once(env: None, space: None) -> None:
    code, out, _ = invoke("bill-run", "--date", "2026-12-01", "--preview")
    assert code == 0
    assert "Preview only: nothing was written." in out
    # 210.00 (10-30 Nov) + 300.00 (December) + 40.00 (the fee) = 550.00 net, 110.00 VAT, 660.00 in all
    assert "550.00" in out
    assert "660.00" in out

    code, out, _ = invoke("invoices", "list")
    assert "LON-0001" not in out

    code, out, _ = invoke("bill-run", "--date", "2026-12-01")
    assert code == 0
    assert "1 invoices created" in out
    code, out, _ = invoke("bill-run", "--date", "2026-12-01")
    assert "Nothing to invoice" in out

    code, out, _ = invoke("invoices", "list", "--status", "awaiting_payment")
    assert code == 0
    assert "LON-0001" in out
    assert "Acme Ltd" in out


def test_bill_run_without_a_date_runs_the_one_due_today(env: None, space: None) -> None:
    """FLEXBILL_TODAY is 26 Nov 2026 and the billing day the 1st, with no lead time: November's run is due, and
    the membership from 10 Nov is billed for 10-30 Nov; December is not billed yet."""
    code, out, err = invoke("bill-run")
    assert code == 0, err
    assert "The bill run due today is the one for 2026-11-01." in err
    assert "1 invoices created" in out


def test_bill_run_explains_a_date_that_is_not_a_billing_day(env: None) -> None:
    code, _, err = invoke("bill-run", "--date", "2026-12-02")
    assert code == 1
    assert "is not a billing day" in err
    code, _, err = invoke("bill-run", "--date", "2026-12-32")
    assert code == 1
    assert "is not a date in the form YYYY-MM-DD" in err
    code, _, err = invoke("bill-run", "--date", "2026-12-01", "--location", "NOPE")
    assert code == 1
    assert "NOPE does not exist" in err


def test_export_invoices_writes_one_row_per_line(env: None, space: None, tmp_path: Path) -> None:
    invoke("bill-run", "--date", "2026-12-01")
    out_file = tmp_path / "invoices.csv"
    code, out, _ = invoke("export", "invoices", "--out", str(out_file), "--from", "2026-12-01", "--location", "LON")
    assert code == 0
    assert "Wrote 3 invoice lines" in out
    rows = list(csv.DictReader(out_file.open(encoding="utf-8")))
    assert [(row["invoice_number"], row["net_amount"]) for row in rows] == [
        ("LON-0001", "210.00"),
        ("LON-0001", "300.00"),
        ("LON-0001", "40.00"),
    ]
    code, _, err = invoke("export", "invoices", "--out", str(out_file), "--status", "unpaid")
    assert code == 1
    assert "--status 'unpaid' is not one of" in err


# The demo always runs on the embedded SQLite database, whatever the suite's: once is enough. It keeps London's
# books in the Xero sandbox and, asked to, Berlin's in the QuickBooks sandbox.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_demo_builds_a_two_currency_space_and_bills_it_into_xero_and_quickbooks(env: None, tmp_path: Path) -> None:
    code, out, _ = invoke("demo", "--no-serve", "--quickbooks", "ber")
    assert code == 0, out
    assert "36 customers, 36 memberships" in out
    assert "BER" in out
    assert "EUR" in out
    assert "LON" in out
    assert "GBP" in out
    assert "Sample space, bill run of 2026-11-01" in out
    xero = re.search(r"Books of LON kept in the Xero sandbox at \S+ \(60x time\): (\d+) invoices", out)
    quickbooks = re.search(r"Books of BER kept in the QuickBooks Online sandbox at \S+: (\d+) invoices", out)
    assert xero is not None, out
    assert quickbooks is not None, out
    assert int(xero.group(1)) > 0
    assert int(quickbooks.group(1)) > 0
    assert (tmp_path / "data" / "demo" / "flexbill.sqlite3").exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_demo_refuses_a_location_it_does_not_have(env: None) -> None:
    code, out, err = invoke("demo", "--no-serve", "--quickbooks", "PAR")
    assert code == 1
    assert "--quickbooks takes a location of the sample space: LON or BER" in out + err


def test_run_due_charges_the_day_and_running_it_again_charges_nothing(
    env: None, ctx: Context, client: TestClient
) -> None:
    with ctx.sessions() as db, db.begin():
        cat = make_catalog(db)
    with running_sandbox() as sandbox:
        add_gateway(client, sandbox, cat)
        auto_charge(client)
        member(ctx, cat, "Sol Ltd", "pm_card_visa", client)
        member(ctx, cat, "Tam Ltd", "pm_card_chargeDeclined", client)
        bill(ctx)
        code, out, _ = invoke("run-due", "--date", "2026-12-15")
        assert code == 0, out
        assert "Due-date work of 2026-12-15: 2 charge(s)" in out
        assert "succeeded" in out
        assert "failed" in out
        code, out, _ = invoke("run-due", "--date", "2026-12-15")
        assert code == 0, out
        assert "0 charge(s)" in out
    bad_code, bad_out, bad_err = invoke("run-due", "--date", "15/12/2026")
    assert bad_code != 0
    assert "--date" in bad_out + bad_err
