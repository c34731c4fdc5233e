"""The one place where adapters (database, clock) are chosen from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from flexbill.clock import Clock, FixedClock, SystemClock
from flexbill.db import make_engine, make_session_factory, read_only
from flexbill.settings import Settings, get_settings


@dataclass
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]  # for use cases that write
    clock: Clock = field(default_factory=SystemClock)
    readers: sessionmaker[Session] = field(init=False)  # for reads: on SQLite they never wait for a writer

    def __post_init__(self) -> None:
        self.readers = make_session_factory(read_only(self.engine))


def build_context(settings: Settings | None = None, *, clock: Clock | None = None) -> Context:
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url())
    return Context(
        settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock or clock_for(settings)
    )


def clock_for(settings: Settings) -> Clock:
    """The system clock, or a clock stopped at noon UTC of ``FLEXBILL_TODAY`` when that is set."""
    if settings.today is not None:
        return FixedClock(datetime.combine(settings.today, time(12, 0), tzinfo=UTC))
    return SystemClock()
