"""The one place where adapters (database, clock, the Xero export's codes) are chosen from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from flexbill.access import audit
from flexbill.clock import Clock, ShiftedClock, SystemClock
from flexbill.db import make_engine, make_session_factory, one_statement_reads, read_only
from flexbill.settings import Settings, get_settings

if TYPE_CHECKING:
    from flexbill.invoicing.export import QuickBooksCodesFor, XeroCodesFor
    from flexbill.notify.ports import Mailer


@dataclass
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]  # for use cases that write
    clock: Clock = field(default_factory=SystemClock)
    readers: sessionmaker[Session] = field(init=False)  # for reads: on SQLite they never wait for a writer
    lookups: sessionmaker[Session] = field(init=False)  # for a statement or two read on every request (sign-in)

    def __post_init__(self) -> None:
        self.readers = make_session_factory(read_only(self.engine))
        self.lookups = make_session_factory(one_statement_reads(self.engine))
        audit.watch(self.sessions)  # every change a person or an API key makes is recorded


def build_context(settings: Settings | None = None, *, clock: Clock | None = None) -> Context:
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url())
    return Context(
        settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock or clock_for(settings)
    )


def clock_for(settings: Settings) -> Clock:
    """The system clock, or, when ``FLEXBILL_TODAY`` is set, a clock that starts at noon UTC of that day and runs
    on from there (so the worker's retries and waits still come due)."""
    if settings.today is not None:
        return ShiftedClock(datetime.combine(settings.today, time(12, 0), tzinfo=UTC))
    return SystemClock()


def xero_codes_for(ctx: Context, session: Session) -> XeroCodesFor:
    """Where the Xero CSV export (the API's and the CLI's) gets each location's codes: the mappings of the
    location's Xero connection, or flexbill's own account codes and tax rate names (``default_xero_codes``)."""
    from flexbill.accounting.service import xero_codes_from_mappings

    return xero_codes_from_mappings(session)


def quickbooks_codes_for(ctx: Context, session: Session) -> QuickBooksCodesFor:
    """Where the QuickBooks Online CSV export (the API's and the CLI's) gets each location's names: as far as
    they are known, the mappings of the location's QuickBooks connection, or flexbill's own revenue account and
    tax rate names (``own_quickbooks_codes``)."""
    from flexbill.accounting.service import quickbooks_codes_from_mappings

    return quickbooks_codes_from_mappings(session)


def mailer_for(ctx: Context) -> Mailer:
    """The mail server of ``FLEXBILL_SMTP_HOST``, or, without one, the local capture (``flexbill.notify.capture``)."""
    from flexbill.notify.smtp import smtp_mailer

    return smtp_mailer(ctx.settings, ctx.clock)
