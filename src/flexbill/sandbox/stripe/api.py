"""The Stripe API routes under ``/v1``: each reads its parameters as Stripe does and calls the account's rules.

Every route has an operation name (``payment_intents.create``) that faults target and the request log counts.
Handlers are plain functions; the gateway runs them in the thread pool under the sandbox's lock, so an answer
is one consistent snapshot. Parameters a handler does not know are refused (``Received unknown parameter``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from flexbill.sandbox.stripe import listing, render
from flexbill.sandbox.stripe.errors import invalid_request, resource_missing
from flexbill.sandbox.stripe.model import CheckoutSession, LineItem, Origin, PaymentIntent
from flexbill.sandbox.stripe.params import Params
from flexbill.sandbox.stripe.state import (
    Account,
    check_event_types,
    check_url,
    merge_metadata,
    normal_currency,
)

if TYPE_CHECKING:
    from flexbill.sandbox.stripe.sandbox import StripeSandbox

Json = dict[str, Any]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SUPPORTED_METHOD_TYPES = ("card",)
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
MIN_SESSION_SECONDS = 30 * 60
MAX_SESSION_SECONDS = 24 * 60 * 60


@dataclass
class Call:
    """One API request as a handler sees it."""

    sandbox: StripeSandbox
    account: Account
    params: Params
    args: dict[str, str]
    origin: Origin


Handler = Callable[[Call], Json]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    operation: str
    handler: Handler
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


ROUTES: list[Route] = []


def route(method: str, template: str, operation: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, template, operation, handler))
        return handler

    return register


def resolve(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for candidate in ROUTES:
        if candidate.method == method:
            match = candidate.pattern.match(path)
            if match is not None:
                return candidate, match.groupdict()
    return None


# -- parameter helpers -----------------------------------------------------------------------------------------


def _metadata(params: Params, key: str = "metadata") -> dict[str, str]:
    changes = params.metadata(key) or {}
    return {name: value for name, value in changes.items() if value is not None}


def _email(params: Params, key: str) -> str | None:
    value = params.string(key, max_length=512)
    if value is not None and not _EMAIL.match(value):
        raise invalid_request(f"Invalid email address: {value}", param=params.name(key), code="email_invalid")
    return value


def _method_types(params: Params) -> list[str] | None:
    types = params.strings("payment_method_types")
    for index, name in enumerate(types or []):
        if name not in SUPPORTED_METHOD_TYPES:
            raise invalid_request(
                f'The payment method type "{name}" is invalid. The sandbox supports cards only '
                f"({', '.join(SUPPORTED_METHOD_TYPES)}).",
                param=f"payment_method_types[{index}]",
            )
    return types


def _present(params: Params, *keys: str) -> list[str]:
    """The keys of an update that were sent (an empty value unsets a field, so it counts as sent)."""
    return [key for key in keys if key in params]


def _list(call: Call, records: list[Any], url: str, kind: str) -> Json:
    return listing.paginate(records, call.params, url, call.account.render, kind)


def _id_filter(call: Call, name: str, records: list[Any], attribute: str | None = None) -> list[Any]:
    wanted = call.params.string(name)
    if wanted is None:
        return records
    return [record for record in records if getattr(record, attribute or name) == wanted]


# -- customers -------------------------------------------------------------------------------------------------

_CUSTOMER_FIELDS = (
    "email",
    "name",
    "description",
    "phone",
    "metadata",
    "invoice_settings",
    "address",
    "preferred_locales",
)
_ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "state", "country")


def _customer_fields(params: Params) -> Json:
    fields: Json = {}
    for key, limit in (("name", 256), ("description", 350), ("phone", 20)):
        if key in params:
            fields[key] = params.string(key, max_length=limit)
    if "email" in params:
        fields["email"] = _email(params, "email")
    if "address" in params:
        address = params.hash("address")
        if address is None:
            fields["address"] = None
        else:
            address.only(*_ADDRESS_FIELDS)
            fields["address"] = {name: address.string(name, max_length=200) for name in _ADDRESS_FIELDS}
    if "preferred_locales" in params:
        fields["preferred_locales"] = params.strings("preferred_locales") or []
    settings = params.hash("invoice_settings")
    if settings is not None:
        settings.only("default_payment_method")
        if "default_payment_method" in settings:
            fields["default_payment_method"] = settings.string("default_payment_method")
    return fields


@route("POST", "/v1/customers", "customers.create")
def create_customer(call: Call) -> Json:
    params = call.params
    params.only(*_CUSTOMER_FIELDS, "payment_method")
    fields = _customer_fields(params)
    if "payment_method" in params:
        fields["payment_method"] = params.string("payment_method")
    customer = call.account.create_customer(fields, _metadata(params), call.origin)
    return call.account.render(customer)


@route("GET", "/v1/customers", "customers.list")
def list_customers(call: Call) -> Json:
    call.params.only("email", "created", "limit", "starting_after", "ending_before")
    customers = _id_filter(call, "email", list(call.account.customers.values()))
    return _list(call, customers, "/v1/customers", "customer")


@route("GET", "/v1/customers/{customer}", "customers.retrieve")
def retrieve_customer(call: Call) -> Json:
    call.params.only()
    return call.account.render(call.account.customer(call.args["customer"]))


@route("POST", "/v1/customers/{customer}", "customers.update")
def update_customer(call: Call) -> Json:
    params = call.params
    params.only(*_CUSTOMER_FIELDS)
    customer = call.account.update_customer(
        call.args["customer"], _customer_fields(params), params.metadata("metadata"), call.origin
    )
    return call.account.render(customer)


@route("DELETE", "/v1/customers/{customer}", "customers.delete")
def delete_customer(call: Call) -> Json:
    call.params.only()
    return call.account.delete_customer(call.args["customer"], call.origin)


@route("GET", "/v1/customers/{customer}/payment_methods", "customers.list_payment_methods")
def list_customer_payment_methods(call: Call) -> Json:
    call.params.only("type", "limit", "starting_after", "ending_before")
    customer = call.account.customer(call.args["customer"], param="customer")
    call.params.choice("type", SUPPORTED_METHOD_TYPES)
    methods = [m for m in call.account.payment_methods.values() if m.customer == customer.id]
    return _list(call, methods, f"/v1/customers/{customer.id}/payment_methods", "PaymentMethod")


# -- payment methods -------------------------------------------------------------------------------------------


@route("GET", "/v1/payment_methods", "payment_methods.list")
def list_payment_methods(call: Call) -> Json:
    params = call.params
    params.only("customer", "type", "limit", "starting_after", "ending_before")
    params.choice("type", SUPPORTED_METHOD_TYPES)
    customer_id = params.string("customer")
    if customer_id is not None:
        call.account.customer(customer_id, param="customer")
    methods = [m for m in call.account.payment_methods.values() if customer_id is None or m.customer == customer_id]
    return _list(call, methods, "/v1/payment_methods", "PaymentMethod")


@route("GET", "/v1/payment_methods/{payment_method}", "payment_methods.retrieve")
def retrieve_payment_method(call: Call) -> Json:
    call.params.only()
    return call.account.render(call.account.retrieve_payment_method(call.args["payment_method"]))


@route("POST", "/v1/payment_methods/{payment_method}/attach", "payment_methods.attach")
def attach_payment_method(call: Call) -> Json:
    params = call.params
    params.only("customer")
    customer_id = params.required_string("customer")
    method = call.account.attach(call.args["payment_method"], customer_id, call.origin)
    return call.account.render(method)


@route("POST", "/v1/payment_methods/{payment_method}/detach", "payment_methods.detach")
def detach_payment_method(call: Call) -> Json:
    call.params.only()
    return call.account.render(call.account.detach(call.args["payment_method"], call.origin))


# -- payment intents -------------------------------------------------------------------------------------------


def _off_session(params: Params) -> bool | None:
    value = params.choice("off_session", ("true", "false", "one_off", "recurring"))
    return None if value is None else value != "false"


@route("POST", "/v1/payment_intents", "payment_intents.create")
def create_payment_intent(call: Call) -> Json:
    params = call.params
    params.only(
        "amount", "currency", "customer", "payment_method", "off_session", "confirm", "description", "metadata",
        "receipt_email", "payment_method_types", "automatic_payment_methods", "return_url", "setup_future_usage",
    )  # fmt: skip
    amount = params.required_integer("amount")
    currency = normal_currency(params.required_string("currency"))
    confirm = bool(params.boolean("confirm"))
    off_session = _off_session(params)
    if off_session is not None and not confirm:
        raise invalid_request(
            "You can only use `off_session` when `confirm` is set to `true`: create and confirm the PaymentIntent "
            "in one request to charge a saved card off session.",
            param="off_session",
        )
    types = _method_types(params)
    automatic = params.hash("automatic_payment_methods")
    enabled: bool | None = None
    allow_redirects: Literal["always", "never"] = "always"
    if automatic is not None:
        automatic.only("enabled", "allow_redirects")
        enabled = automatic.boolean("enabled")
        if enabled is None:
            raise invalid_request(
                "Missing required param: automatic_payment_methods[enabled].",
                param="automatic_payment_methods[enabled]",
            )
        allow_redirects = "never" if automatic.choice("allow_redirects", ("always", "never")) == "never" else "always"
    if types and enabled:
        raise invalid_request(
            "You may only specify one of these parameters: automatic_payment_methods, payment_method_types."
        )
    return_url = params.string("return_url", max_length=2048)
    intent = call.account.create_payment_intent(
        amount=amount,
        currency=currency,
        customer=params.string("customer"),
        payment_method=params.string("payment_method"),
        confirm=confirm,
        off_session=bool(off_session),
        return_url=check_url(return_url, "return_url") if return_url else None,
        automatic=types is None and enabled is not False,
        allow_redirects=allow_redirects,
        payment_method_types=types or ["card"],
        description=params.string("description", max_length=1000),
        metadata=_metadata(params),
        receipt_email=_email(params, "receipt_email"),
        setup_future_usage=params.choice("setup_future_usage", ("off_session", "on_session")),
        origin=call.origin,
    )
    return call.account.render(intent)


def _search_fields(intent: PaymentIntent) -> Json:
    return {
        "amount": intent.amount,
        "created": intent.created,
        "currency": intent.currency,
        "customer": intent.customer,
        "metadata": intent.metadata,
        "status": intent.status,
    }


@route("GET", "/v1/payment_intents/search", "payment_intents.search")
def search_payment_intents(call: Call) -> Json:
    call.params.only("query", "limit", "page")
    intents = list(call.account.payment_intents.values())
    return listing.search(intents, call.params, "/v1/payment_intents/search", _search_fields, call.account.render)


@route("GET", "/v1/payment_intents", "payment_intents.list")
def list_payment_intents(call: Call) -> Json:
    call.params.only("customer", "created", "limit", "starting_after", "ending_before")
    intents = _id_filter(call, "customer", list(call.account.payment_intents.values()))
    return _list(call, intents, "/v1/payment_intents", "payment_intent")


@route("GET", "/v1/payment_intents/{intent}", "payment_intents.retrieve")
def retrieve_payment_intent(call: Call) -> Json:
    call.params.only("client_secret")
    return call.account.render(call.account.payment_intent(call.args["intent"]))


@route("POST", "/v1/payment_intents/{intent}", "payment_intents.update")
def update_payment_intent(call: Call) -> Json:
    params = call.params
    params.only(
        "amount", "currency", "customer", "description", "metadata", "payment_method", "receipt_email",
        "setup_future_usage",
    )  # fmt: skip
    fields: Json = {}
    if "amount" in params:
        fields["amount"] = params.required_integer("amount")
    if "currency" in params:
        fields["currency"] = normal_currency(params.required_string("currency"))
    for key in _present(params, "customer", "payment_method"):
        fields[key] = params.string(key)
    if "description" in params:
        fields["description"] = params.string("description", max_length=1000)
    if "receipt_email" in params:
        fields["receipt_email"] = _email(params, "receipt_email")
    if "setup_future_usage" in params:
        fields["setup_future_usage"] = params.choice("setup_future_usage", ("off_session", "on_session"))
    intent = call.account.update_payment_intent(call.args["intent"], fields, params.metadata(), call.origin)
    return call.account.render(intent)


@route("POST", "/v1/payment_intents/{intent}/confirm", "payment_intents.confirm")
def confirm_payment_intent(call: Call) -> Json:
    params = call.params
    params.only("payment_method", "off_session", "return_url", "receipt_email", "setup_future_usage")
    intent = call.account.payment_intent(call.args["intent"])
    receipt_email = _email(params, "receipt_email")
    setup_future_usage = params.choice("setup_future_usage", ("off_session", "on_session"))
    return_url = params.string("return_url", max_length=2048)
    return_url = check_url(return_url, "return_url") if return_url else None
    off_session = bool(_off_session(params))
    payment_method = params.string("payment_method")
    call.account.check_confirmable(intent.id, payment_method, return_url)
    if receipt_email is not None or setup_future_usage is not None:
        changes = {"receipt_email": receipt_email, "setup_future_usage": setup_future_usage}
        call.account.update_payment_intent(
            intent.id, {k: v for k, v in changes.items() if v is not None}, None, call.origin
        )
    call.account.confirm(
        intent.id, payment_method=payment_method, off_session=off_session, return_url=return_url, origin=call.origin
    )
    return call.account.render(intent)


@route("POST", "/v1/payment_intents/{intent}/cancel", "payment_intents.cancel")
def cancel_payment_intent(call: Call) -> Json:
    call.params.only("cancellation_reason")
    reason = call.params.choice("cancellation_reason", CANCELLATION_REASONS)
    return call.account.render(call.account.cancel(call.args["intent"], reason, call.origin))


# -- charges, refunds, disputes --------------------------------------------------------------------------------


@route("GET", "/v1/charges", "charges.list")
def list_charges(call: Call) -> Json:
    call.params.only("customer", "payment_intent", "created", "limit", "starting_after", "ending_before")
    charges = _id_filter(call, "customer", list(call.account.charges.values()))
    charges = _id_filter(call, "payment_intent", charges)
    return _list(call, charges, "/v1/charges", "charge")


@route("GET", "/v1/charges/{charge}", "charges.retrieve")
def retrieve_charge(call: Call) -> Json:
    call.params.only()
    return call.account.render(call.account.charge(call.args["charge"]))


@route("POST", "/v1/refunds", "refunds.create")
def create_refund(call: Call) -> Json:
    params = call.params
    params.only("charge", "payment_intent", "amount", "reason", "metadata")
    refund = call.account.create_refund(
        charge_id=params.string("charge"),
        intent_id=params.string("payment_intent"),
        amount=params.integer("amount", minimum=1),
        reason=params.choice("reason", REFUND_REASONS),
        metadata=_metadata(params),
        origin=call.origin,
    )
    return call.account.render(refund)


@route("GET", "/v1/refunds", "refunds.list")
def list_refunds(call: Call) -> Json:
    call.params.only("charge", "payment_intent", "created", "limit", "starting_after", "ending_before")
    refunds = _id_filter(call, "charge", list(call.account.refunds.values()))
    refunds = _id_filter(call, "payment_intent", refunds)
    return _list(call, refunds, "/v1/refunds", "refund")


@route("GET", "/v1/refunds/{refund}", "refunds.retrieve")
def retrieve_refund(call: Call) -> Json:
    call.params.only()
    return call.account.render(call.account.refund(call.args["refund"]))


@route("GET", "/v1/disputes", "disputes.list")
def list_disputes(call: Call) -> Json:
    call.params.only("charge", "payment_intent", "created", "limit", "starting_after", "ending_before")
    disputes = _id_filter(call, "charge", list(call.account.disputes.values()))
    disputes = _id_filter(call, "payment_intent", disputes)
    return _list(call, disputes, "/v1/disputes", "dispute")


@route("GET", "/v1/disputes/{dispute}", "disputes.retrieve")
def retrieve_dispute(call: Call) -> Json:
    call.params.only()
    return call.account.render(call.account.dispute(call.args["dispute"]))


# -- setup intents and checkout sessions -----------------------------------------------------------------------


@route("GET", "/v1/setup_intents", "setup_intents.list")
def list_setup_intents(call: Call) -> Json:
    call.params.only("customer", "payment_method", "created", "limit", "starting_after", "ending_before")
    intents = _id_filter(call, "customer", list(call.account.setup_intents.values()))
    intents = _id_filter(call, "payment_method", intents)
    return _list(call, intents, "/v1/setup_intents", "setup_intent")


@route("GET", "/v1/setup_intents/{intent}", "setup_intents.retrieve")
def retrieve_setup_intent(call: Call) -> Json:
    call.params.only("client_secret")
    return call.account.render(call.account.setup_intent(call.args["intent"]))


def _line_items(params: Params) -> list[LineItem]:
    items: list[LineItem] = []
    for item in params.hashes("line_items"):
        item.only("price_data", "quantity", "price")
        price = item.string("price")
        if price is not None:
            raise resource_missing("price", price, param=item.name("price"))
        data = item.hash("price_data")
        if data is None:
            raise invalid_request(f"Missing required param: {item.name('price_data')}.", param=item.name("price_data"))
        data.only("currency", "unit_amount", "product_data")
        product = data.hash("product_data")
        if product is None:
            raise invalid_request(
                f"Missing required param: {data.name('product_data')}.", param=data.name("product_data")
            )
        product.only("name", "description")
        items.append(
            LineItem(
                name=product.required_string("name", max_length=250),
                currency=normal_currency(data.required_string("currency"), param=data.name("currency")),
                unit_amount=data.required_integer("unit_amount", minimum=0),
                quantity=item.required_integer("quantity", minimum=1),
                description=product.string("description", max_length=500),
            )
        )
    return items


@route("POST", "/v1/checkout/sessions", "checkout.sessions.create")
def create_checkout_session(call: Call) -> Json:
    params = call.params
    params.only(
        "mode", "line_items", "customer", "customer_email", "payment_intent_data", "setup_intent_data", "metadata",
        "client_reference_id", "success_url", "cancel_url", "payment_method_types", "currency", "expires_at",
        "ui_mode",
    )  # fmt: skip
    mode = params.choice("mode", ("payment", "setup", "subscription"), required=True)
    if mode == "subscription":
        raise invalid_request(
            "The sandbox has no Prices or Subscriptions: use mode `payment` or `setup`.", param="mode"
        )
    params.choice("ui_mode", ("hosted",))
    customer = params.string("customer")
    customer_email = _email(params, "customer_email")
    if customer is not None and customer_email is not None:
        raise invalid_request("You may only specify one of these parameters: customer, customer_email.")
    items = _line_items(params)
    currency = params.string("currency")
    types = _method_types(params)
    intent_data = params.hash("payment_intent_data")
    setup_data = params.hash("setup_intent_data")
    receipt_email = setup_future_usage = None
    if mode == "payment":
        if not items:
            raise invalid_request("`line_items` is required in `payment` mode.", param="line_items")
        if setup_data is not None:
            raise invalid_request("You can only pass `setup_intent_data` in `setup` mode.", param="setup_intent_data")
        currencies = {item.currency for item in items}
        if len(currencies) > 1:
            raise invalid_request("All line items must have the same currency.", param="line_items")
        currency = currencies.pop()
        extra = intent_data
        if intent_data is not None:
            intent_data.only("metadata", "description", "receipt_email", "setup_future_usage")
            receipt_email = _email(intent_data, "receipt_email")
            setup_future_usage = intent_data.choice("setup_future_usage", ("off_session", "on_session"))
    else:
        if items:
            raise invalid_request("You cannot pass `line_items` in `setup` mode.", param="line_items")
        if intent_data is not None:
            raise invalid_request(
                "You can only pass `payment_intent_data` in `payment` mode.", param="payment_intent_data"
            )
        if currency is None and types is None:
            raise invalid_request(
                "Missing required param: currency. It is required in `setup` mode when `payment_method_types` is "
                "not given.",
                param="currency",
            )
        currency = normal_currency(currency) if currency is not None else None
        extra = setup_data
        if setup_data is not None:
            setup_data.only("metadata", "description")
    now = call.sandbox.now()
    expires_at = params.integer("expires_at")
    if expires_at is not None and not now + MIN_SESSION_SECONDS <= expires_at <= now + MAX_SESSION_SECONDS:
        raise invalid_request(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from the Checkout Session's creation.",
            param="expires_at",
        )
    success_url = params.string("success_url", max_length=5000)
    cancel_url = params.string("cancel_url", max_length=5000)
    draft = CheckoutSession(
        "",
        0,
        0,
        mode="payment" if mode == "payment" else "setup",
        expires_at=expires_at or 0,
        currency=currency,
        line_items=items,
        customer=customer,
        customer_email=customer_email,
        client_reference_id=params.string("client_reference_id", max_length=200),
        metadata=_metadata(params),
        success_url=check_url(success_url, "success_url") if success_url else None,
        cancel_url=check_url(cancel_url, "cancel_url") if cancel_url else None,
        payment_method_types=types,
        intent_metadata=_metadata(extra) if extra is not None else {},
        intent_description=extra.string("description", max_length=1000) if extra is not None else None,
        receipt_email=receipt_email,
        setup_future_usage=setup_future_usage,
    )
    session = call.account.create_checkout_session(draft, call.origin)
    return call.account.render(session)


@route("GET", "/v1/checkout/sessions", "checkout.sessions.list")
def list_checkout_sessions(call: Call) -> Json:
    call.params.only("customer", "payment_intent", "status", "created", "limit", "starting_after", "ending_before")
    call.account.sweep()
    sessions = _id_filter(call, "customer", list(call.account.checkout_sessions.values()))
    sessions = _id_filter(call, "payment_intent", sessions)
    sessions = _id_filter(call, "status", sessions)
    return _list(call, sessions, "/v1/checkout/sessions", "checkout.session")


@route("GET", "/v1/checkout/sessions/{session}", "checkout.sessions.retrieve")
def retrieve_checkout_session(call: Call) -> Json:
    call.params.only()
    call.account.sweep()
    return call.account.render(call.account.checkout_session(call.args["session"]))


@route("POST", "/v1/checkout/sessions/{session}/expire", "checkout.sessions.expire")
def expire_checkout_session(call: Call) -> Json:
    call.params.only()
    call.account.sweep()
    return call.account.render(call.account.expire_session(call.args["session"], call.origin))


# -- events and webhook endpoints ------------------------------------------------------------------------------


@route("GET", "/v1/events", "events.list")
def list_events(call: Call) -> Json:
    params = call.params
    params.only("type", "types", "created", "limit", "starting_after", "ending_before")
    wanted = params.string("type")
    several = params.strings("types")
    if wanted is not None and several is not None:
        raise invalid_request("You may only specify one of these parameters: type, types.")
    patterns = [wanted] if wanted is not None else several
    events = [
        event
        for event in call.account.events.values()
        if patterns is None or any(_type_matches(pattern, event.type) for pattern in patterns)
    ]
    return listing.paginate(events, params, "/v1/events", call.sandbox.render_event, "event")


def _type_matches(pattern: str, event_type: str) -> bool:
    """``charge.*`` matches ``charge.succeeded`` and ``charge.dispute.created``, as in Stripe's ``type`` filter."""
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


@route("GET", "/v1/events/{event}", "events.retrieve")
def retrieve_event(call: Call) -> Json:
    call.params.only()
    return call.sandbox.render_event(call.account.event(call.args["event"]))


@route("POST", "/v1/webhook_endpoints", "webhook_endpoints.create")
def create_webhook_endpoint(call: Call) -> Json:
    params = call.params
    params.only("url", "enabled_events", "description", "metadata", "api_version", "connect")
    if params.boolean("connect"):
        raise invalid_request("The sandbox has no Connect accounts: leave `connect` unset.", param="connect")
    endpoint = call.account.create_webhook_endpoint(
        url=check_url(params.required_string("url", max_length=5000), "url"),
        enabled_events=check_event_types(params.strings("enabled_events") or []),
        description=params.string("description", max_length=5000),
        metadata=_metadata(params),
        api_version=params.string("api_version"),
    )
    return render.webhook_endpoint(endpoint, with_secret=True)


@route("GET", "/v1/webhook_endpoints", "webhook_endpoints.list")
def list_webhook_endpoints(call: Call) -> Json:
    call.params.only("limit", "starting_after", "ending_before")
    endpoints = list(call.account.webhook_endpoints.values())
    return _list(call, endpoints, "/v1/webhook_endpoints", "webhook_endpoint")


@route("GET", "/v1/webhook_endpoints/{endpoint}", "webhook_endpoints.retrieve")
def retrieve_webhook_endpoint(call: Call) -> Json:
    call.params.only()
    return call.account.render(call.account.webhook_endpoint(call.args["endpoint"]))


@route("POST", "/v1/webhook_endpoints/{endpoint}", "webhook_endpoints.update")
def update_webhook_endpoint(call: Call) -> Json:
    params = call.params
    params.only("url", "enabled_events", "description", "metadata", "disabled")
    endpoint = call.account.webhook_endpoint(call.args["endpoint"])
    url = params.string("url", max_length=5000)
    url = check_url(url, "url") if url is not None else endpoint.url
    events = params.strings("enabled_events")
    events = check_event_types(events) if events is not None else endpoint.enabled_events
    disabled = params.boolean("disabled")
    description = params.string("description", max_length=5000) if "description" in params else endpoint.description
    changes = params.metadata()
    endpoint.url, endpoint.enabled_events, endpoint.description = url, events, description
    if disabled is not None:
        endpoint.status = "disabled" if disabled else "enabled"
    if changes is not None:
        endpoint.metadata = merge_metadata(endpoint.metadata, changes)
    call.account.version += 1
    return call.account.render(endpoint)


@route("DELETE", "/v1/webhook_endpoints/{endpoint}", "webhook_endpoints.delete")
def delete_webhook_endpoint(call: Call) -> Json:
    call.params.only()
    return call.account.delete_webhook_endpoint(call.args["endpoint"])


OPERATIONS: tuple[str, ...] = tuple(sorted({candidate.operation for candidate in ROUTES}))
