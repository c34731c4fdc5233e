"""The payment gateways flexbill knows: Stripe, and any a package registers under the entry-point group
``flexbill.gateways`` (an object with ``key``, ``display_name`` and ``open_session(account)``)."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from flexbill.errors import InvalidInput
from flexbill.payments.ports import Gateway

ENTRY_POINT_GROUP = "flexbill.gateways"


@lru_cache(maxsize=1)
def gateways() -> dict[str, Gateway]:
    from flexbill.payments.gateways.stripe import StripeGateway

    found: dict[str, Gateway] = {"stripe": StripeGateway()}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        gateway = loaded() if isinstance(loaded, type) else loaded
        found.setdefault(gateway.key, gateway)
    return found


def get_gateway(provider: str, *, field: str | None = "provider") -> Gateway:
    known = gateways()
    if provider not in known:
        raise InvalidInput(f"there is no payment gateway {provider!r}; known: {', '.join(sorted(known))}", field=field)
    return known[provider]
