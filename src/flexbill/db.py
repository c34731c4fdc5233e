"""Database plumbing: the declarative base, column types and engine set-up for SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import uuid_utils
from sqlalchemy import DateTime, MetaData, Numeric, String, Table, Uuid, create_engine, event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {uuid.UUID: Uuid(), datetime: DateTime(timezone=True)}  # noqa: RUF012


def new_id() -> uuid.UUID:
    """A time-ordered UUID (version 7): ids sort by creation, so cursors paginate in creation order."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


def utcnow() -> datetime:
    """Timestamps of record keeping (created_at), not business dates: those come from the Clock."""
    return datetime.now(UTC)


class _SQLiteDecimal(TypeDecorator[Decimal]):
    """Decimals kept as text on SQLite, whose numbers are binary floats."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"amounts are stored from Decimal, not {type(value).__name__}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def Amount() -> TypeEngine[Decimal]:
    """An exact decimal column: NUMERIC(19, 4) on PostgreSQL (read straight by the driver, no conversion on the
    hot path), text on SQLite."""
    return Numeric(19, 4, asdecimal=True).with_variant(_SQLiteDecimal(), "sqlite")


# Connections each process keeps (and may add) to the database. Several processes share PostgreSQL's
# max_connections (100 by default): two web processes and a worker stay well under it.
POOL_SIZE = 10
POOL_OVERFLOW = 10


def make_engine(url: str, **kwargs: Any) -> Engine:
    if not url.startswith("sqlite:///:memory:") and url != "sqlite://":
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _note_checkin)  # a connection just made needs no ping either
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _pinging_if_idle(engine.dialect))
    return engine


# A pooled connection made or back from use less than this long ago is handed out again without a ping. A ping is a
# round trip to the server, and a page under load made two of its ten for it; a connection idle longer (the server
# may have restarted, or a firewall dropped it meanwhile) is still pinged first, and replaced if it does not answer.
# A restart within these seconds of a connection's last use fails what each process was doing with such connections
# at that moment (a request answers 500, a task is retried): SQLAlchemy then sees the disconnect and invalidates
# every connection of the pool, so what comes next connects anew.
PING_AFTER_IDLE_SECONDS = 10.0
_CHECKED_IN_AT = "flexbill_checked_in_at"


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_CHECKED_IN_AT] = time.monotonic()


def _pinging_if_idle(dialect: Dialect) -> Callable[[Any, ConnectionPoolEntry, PoolProxiedConnection], None]:
    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is not None and time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:  # whatever the ping met: the pool replaces the connection and tries again
            raise DisconnectionError(f"a pooled connection did not answer a ping: {error}") from error
        if not alive:
            raise DisconnectionError("a pooled connection did not answer a ping")

    return ping_if_idle


def pool_capacity(engine: Engine) -> int:
    """How many connections the engine's pool hands out at once at most (its size and what it may add)."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        # The pool's maximum overflow has no public reader; it is what make_engine set.
        return pool.size() + max(int(getattr(pool, "_max_overflow", 0)), 0)
    return 1  # an in-memory SQLite database: one connection, shared


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy issue BEGIN itself (below) so that a writing transaction takes the write lock up front:
    # two bill runs then queue instead of failing with "database is locked" half-way.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # Reads (see ``read_only``) begin as usual: with WAL they run alongside a writer instead of queueing.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


READ_ONLY = "flexbill_read_only"


def read_only(engine: Engine) -> Engine:
    """The engine for transactions that only read: on SQLite they do not take the write lock."""
    return engine.execution_options(**{READ_ONLY: True})


def one_statement_reads(engine: Engine) -> Engine:
    """The engine for lookups of a statement or two that need no snapshot between them (who is signed in, whose
    API key this is): on PostgreSQL outside any transaction, which spares the BEGIN and the ROLLBACK, two of the
    round trips of every page. Reads that must see one moment across statements use :func:`read_only`."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return read_only(engine)


def bulk_insert(
    session: Session,
    model: type[Base],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    chunk: int = 5000,
) -> None:
    """Insert many rows, given as tuples in the order of ``columns``, in the session's transaction: COPY on
    PostgreSQL, batched INSERTs elsewhere.

    Columns left out get no Python-side default. The bill run writes through here, and so does its benchmark's
    baseline, so the two compare like with like.
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    unknown = set(columns) - set(table.columns.keys())
    if unknown:
        raise ValueError(f"{table.name} has no columns {sorted(unknown)}")
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        quote = connection.dialect.identifier_preparer.quote  # "group" is a reserved word
        statement = f"COPY {table.name} ({', '.join(quote(column) for column in columns)}) FROM STDIN"
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    for start in range(0, len(rows), chunk):
        connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows[start : start + chunk]])


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class UtcDateTime(TypeDecorator[datetime]):
    """An instant, stored in UTC and read back timezone-aware on every database (tasks, sync records).

    SQLite keeps datetimes as text and drops the offset, so an instant bound as 14:00+02:00 would compare as 14:00
    against 12:00 UTC. Queries compare instants (due tasks, leases), so each one is converted to UTC before it is bound.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"instants need a timezone: {value!r} has none")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert_for(session: Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (``on_conflict_do_nothing``): SQLite and PostgreSQL spell it
    the same way, and flexbill runs on those two."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"flexbill needs INSERT ... ON CONFLICT, which it does not support on {name}")
