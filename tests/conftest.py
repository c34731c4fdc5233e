"""Fixtures shared by every test: databases (SQLite always, PostgreSQL when configured), a fixed clock, an API
client with a key.

``FLEXBILL_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) makes every test
that uses a database run twice: on SQLite and on that database. CI sets it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from flexbill.accounting.ratelimit import forget_shared_limiters
from flexbill.bootstrap import Context
from flexbill.clock import FixedClock
from flexbill.db import make_engine, make_session_factory
from flexbill.migrations import upgrade
from flexbill.models import metadata
from flexbill.settings import Settings

POSTGRES_URL = os.environ.get("FLEXBILL_TEST_DATABASE_URL")
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
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


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    assert POSTGRES_URL, "FLEXBILL_TEST_DATABASE_URL is not set"
    engine = make_engine(POSTGRES_URL)
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
    assert POSTGRES_URL
    return POSTGRES_URL


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def ctx(database_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Context]:
    engine = make_engine(database_url)
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    yield Context(settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock)
    engine.dispose()
