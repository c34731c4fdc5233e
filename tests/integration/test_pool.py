"""The connection pool on PostgreSQL: a connection idle for a while is pinged before use and replaced when the
server has dropped it; one back from use moments ago is handed out as it is."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from flexbill import db as database
from tests.conftest import POSTGRES_URL

ON_POSTGRES = pytest.mark.parametrize(
    "database_url",
    [pytest.param("postgresql", marks=pytest.mark.skipif(not POSTGRES_URL, reason="needs FLEXBILL_TEST_DATABASE_URL"))],
    indirect=True,
)


def _server_drops_the_pooled_connection(database_url: str) -> tuple[Engine, int]:
    """An engine whose one pooled connection the server has since ended (as a restart would); and that
    connection's server process id."""
    engine = database.make_engine(database_url, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        pid = int(connection.scalar(text("SELECT pg_backend_pid()")) or 0)
    admin = database.make_engine(database_url, pool_size=1, max_overflow=0)
    with admin.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    return engine, pid


@pytest.mark.postgres_only
@ON_POSTGRES
def test_a_connection_idle_for_a_while_is_pinged_and_replaced_when_the_server_dropped_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine, dropped = _server_drops_the_pooled_connection(database_url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT pg_backend_pid()")) != dropped
    engine.dispose()


@pytest.mark.postgres_only
@ON_POSTGRES
def test_a_connection_back_from_use_moments_ago_is_not_pinged_and_a_drop_fails_one_use_only(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine, dropped = _server_drops_the_pooled_connection(database_url)
    with pytest.raises(OperationalError), engine.connect() as connection:  # not pinged: used as it is
        connection.scalar(text("SELECT 1"))
    with engine.connect() as connection:  # the disconnect emptied the pool: a new connection
        assert connection.scalar(text("SELECT pg_backend_pid()")) != dropped
    engine.dispose()
