"""The connectors flexbill knows: its own, and any a package registers under the entry-point group
``flexbill.connectors`` (see docs/connectors.md). An entry point names a Connector object (or a factory of one)."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from flexbill.accounting.ports import Connector
from flexbill.errors import InvalidInput

ENTRY_POINT_GROUP = "flexbill.connectors"


@lru_cache(maxsize=1)
def connectors() -> dict[str, Connector]:
    from flexbill.accounting.connectors.quickbooks.client import QuickBooksConnector
    from flexbill.accounting.connectors.xero.client import XeroConnector

    found: dict[str, Connector] = {"xero": XeroConnector(), "quickbooks": QuickBooksConnector()}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        connector = loaded() if isinstance(loaded, type) or not isinstance(loaded, Connector) else loaded
        if not isinstance(connector, Connector):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a flexbill connector")
        found.setdefault(connector.key, connector)
    return found


def get_connector(provider: str, *, field: str | None = "provider") -> Connector:
    known = connectors()
    if provider not in known:
        raise InvalidInput(
            f"there is no accounting connector {provider!r}; known: {', '.join(sorted(known))}", field=field
        )
    return known[provider]
