"""The connection pool on PostgreSQL: a connection idle for a while is pinged before use and replaced when the
server has dropped it; one back from use moments ago is handed out as it is, and when it turns out dropped, the
whole pool is renewed."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from flexbill import db as database
from tests.conftest import ON_POSTGRESQL


def _pool_the_server_dropped(database_url: str, connections: int) -> tuple[Engine, set[int]]:
    """An engine with ``connections`` pooled connections that the server has since ended, as a restart would;
    and their server process ids."""
    engine = database.make_engine(database_url, pool_size=connections, max_overflow=0)
    held = [engine.connect() for _ in range(connections)]
    pids = {int(connection.scalar(text("SELECT pg_backend_pid()")) or 0) for connection in held}
    for connection in held:
        connection.close()
    admin = database.make_engine(database_url, pool_size=1, max_overflow=0)
    with admin.connect() as connection:
        for pid in pids:  # waits until each has gone
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    admin.dispose()
    return engine, pids


def _server_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")) or 0)


@pytest.mark.postgres_only
@ON_POSTGRESQL
def test_a_connection_idle_for_a_while_is_pinged_and_replaced_when_the_server_dropped_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine, dropped = _pool_the_server_dropped(database_url, 1)
    assert _server_pid(engine) not in dropped
    engine.dispose()


@pytest.mark.postgres_only
@ON_POSTGRESQL
def test_a_connection_back_from_use_moments_ago_is_not_pinged_and_a_drop_renews_the_whole_pool(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine, dropped = _pool_the_server_dropped(database_url, 2)
    with pytest.raises(OperationalError), engine.connect() as connection:  # not pinged: used as it is
        connection.scalar(text("SELECT 1"))
    # The other dropped connection is not handed out either: the disconnect invalidated the pool.
    assert _server_pid(engine) not in dropped
    assert _server_pid(engine) not in dropped
    engine.dispose()
