"""The one place where adapters (database, clock) are chosen from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from flexbill.clock import Clock, SystemClock
from flexbill.db import make_engine, make_session_factory
from flexbill.settings import Settings, get_settings


@dataclass
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default_factory=SystemClock)


def build_context(settings: Settings | None = None, *, clock: Clock | None = None) -> Context:
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url())
    return Context(
        settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock or SystemClock()
    )
