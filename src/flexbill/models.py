"""Every table, imported once so that the metadata is complete (for Alembic and for tests)."""

from __future__ import annotations

from flexbill.access import store as _access  # noqa: F401
from flexbill.accounting import store as _accounting  # noqa: F401
from flexbill.billing import store as _billing  # noqa: F401
from flexbill.catalog import store as _catalog  # noqa: F401
from flexbill.customers import store as _customers  # noqa: F401
from flexbill.db import Base
from flexbill.events import store as _events  # noqa: F401
from flexbill.invoicing import store as _invoicing  # noqa: F401
from flexbill.notify import store as _notify  # noqa: F401
from flexbill.payments import store as _payments  # noqa: F401
from flexbill.tasks import store as _tasks  # noqa: F401

metadata = Base.metadata
