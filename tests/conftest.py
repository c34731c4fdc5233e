"""Fixtures shared by every test: databases (SQLite always, PostgreSQL when configured), a fixed clock, an API
client with a key.

``FLEXBILL_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) makes every test
that uses a database run twice: on SQLite and on that database. CI sets it. When the suite runs in several
processes (``pytest -n N``, as ``make test`` does), each process uses a database of its own beside that one
(``test_gw0``, ``test_gw1``, ...), created on first use: the tests empty their database between them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg.errors import DuplicateDatabase
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ProgrammingError

from flexbill.accounting.ratelimit import forget_shared_limiters
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.db import make_engine, make_session_factory
from flexbill.migrations import upgrade
from flexbill.models import metadata
from flexbill.settings import Settings

# The CLI's tables and messages wrap at the terminal's width, which Rich reads from COLUMNS when the CLI's console is
# made (on import). One wide width for every run, whether pytest runs in a terminal or in worker processes (where
# pytest-xdist sets COLUMNS to 80), so that no assertion depends on where the suite runs or how long a path is.
os.environ["COLUMNS"] = "200"

POSTGRES_URL = os.environ.get("FLEXBILL_TEST_DATABASE_URL")
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
# For a test about PostgreSQL alone (concurrent writers, locks, its connections): runs only when it is configured.
ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url",
    [pytest.param("postgresql", marks=pytest.mark.skipif(not POSTGRES_URL, reason="needs FLEXBILL_TEST_DATABASE_URL"))],
    indirect=True,
)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_limiters() -> Iterator[None]:
    """Each test talks to its own sandboxes: the Xero limiter's knowledge of the last test's windows (and calls it
    left in flight) would make it wait for limits that are not there."""
    forget_shared_limiters()
    yield
    forget_shared_limiters()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (migrating once is much faster than per test)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _this_process_database(url: str) -> str:
    """The configured database, or under pytest-xdist the worker's own database beside it (created if missing)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    configured = make_url(url)
    own = configured.set(database=f"{configured.database}_{worker}")
    admin = create_engine(configured, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            found = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database})
            if not found:
                try:
                    connection.execute(text(f'CREATE DATABASE "{own.database}"'))
                except ProgrammingError as error:  # another run made it meanwhile
                    if not isinstance(error.orig, DuplicateDatabase):
                        raise
    finally:
        admin.dispose()
    return own.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    assert POSTGRES_URL, "FLEXBILL_TEST_DATABASE_URL is not set"
    return _this_process_database(POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _empty_postgres(engine: Engine) -> None:
    tables = ", ".join(table.name for table in metadata.sorted_tables if table.name != "billing_settings")
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        connection.execute(text("DELETE FROM billing_settings"))
        connection.execute(
            text(
                "INSERT INTO billing_settings (id, billing_day, generate_days_before, due_days, grouping, "
                "issue_mode, tax_rounding, accounting_sync, auto_send, auto_charge, updated_at) "
                "VALUES (1, 1, 0, 14, 'single', 'issue', 'per_line', 'off', false, false, now())"
            )
        )


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "flexbill.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    engine: Engine = request.getfixturevalue("postgres_engine")
    _empty_postgres(engine)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def ctx(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Context]:
    engine = make_engine(database_url)
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    yield Context(settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock)
    engine.dispose()
