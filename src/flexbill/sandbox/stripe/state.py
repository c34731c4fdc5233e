"""One Stripe account in memory, and Stripe's rules for changing it.

Each secret key is its own account (flexbill uses one Stripe account per location). The sandbox's lock guards
every account: routes run in a thread pool, and the hosted pages and control endpoints change the same objects.
Every method checks everything first and changes nothing when it refuses, so a refused request leaves no trace
(and, as at Stripe, is not saved under its idempotency key); :attr:`Account.version` tells the gateway whether a
request changed anything. Every change records an Event, which the webhook dispatcher delivers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from flexbill.sandbox.stripe import render
from flexbill.sandbox.stripe.cards import (
    AUTHENTICATION_FAILED_MESSAGE,
    AUTHENTICATION_REQUIRED_MESSAGE,
    TEST_CARDS,
    TestCard,
    card_for_token,
)
from flexbill.sandbox.stripe.errors import StripeError, invalid_request, resource_missing, unexpected_state
from flexbill.sandbox.stripe.model import (
    NO_ORIGIN,
    Charge,
    CheckoutSession,
    Customer,
    Dispute,
    Event,
    IdFactory,
    Origin,
    PaymentIntent,
    PaymentMethod,
    Record,
    Refund,
    SetupIntent,
    WebhookEndpoint,
)

Json = dict[str, Any]

RETURN_URL_MESSAGE = (
    "A `return_url` must be specified because this Payment Intent is configured to automatically accept the "
    "payment methods enabled in the Dashboard, some of which may require a full page redirect to succeed. If you "
    "do not want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents."
)
MISSING_PAYMENT_METHOD_MESSAGE = (
    "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the "
    "PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment "
    "method."
)
CONFIRMABLE = ("requires_confirmation", "requires_action", "requires_payment_method")
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
DISPUTE_RESPONSE_DAYS = 7
SESSION_LIFETIME = timedelta(hours=24)
MAX_AMOUNT = 99_999_999

# Stripe's minimum charge amounts, in minor units (a smaller amount is refused with ``amount_too_small``).
MINIMUM_AMOUNTS = {
    "usd": 50, "gbp": 30, "eur": 50, "aud": 50, "cad": 50, "chf": 50, "dkk": 250, "nok": 300, "sek": 300,
    "jpy": 50, "nzd": 50, "hkd": 400, "sgd": 50, "mxn": 1000, "pln": 200, "czk": 1500, "huf": 17500,
    "ron": 200, "bgn": 100, "inr": 50, "aed": 200, "thb": 1000, "brl": 50, "myr": 200,
}  # fmt: skip
_CURRENCY_CODES = (
    "aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bif bmd bnd bob brl bsd bwp byn bzd cad cdf chf "
    "clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl htg huf "
    "idr ils inr isk jmd jpy kes kgs khr kmf krw kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur "
    "mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr "
    "sek sgd shp sle sos srd std szl thb tjs top try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst xaf xcd xof "
    "xpf yer zar zmw"
)
CURRENCIES = frozenset(_CURRENCY_CODES.split())
_EVENT_TYPE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")

Publisher = Callable[["Account", Event], int]


@dataclass(frozen=True)
class CheckoutOutcome:
    """What became of a member's attempt on a hosted Checkout page."""

    kind: Literal["complete", "declined", "requires_action"]
    session: CheckoutSession
    message: str | None = None
    redirect_url: str | None = None


def normal_currency(value: str, *, param: str = "currency") -> str:
    currency = value.lower()
    if currency not in CURRENCIES:
        raise invalid_request(
            f"Invalid currency: {value}. Stripe currently supports these currencies: {', '.join(sorted(CURRENCIES))}",
            param=param,
        )
    return currency


def check_amount(amount: int, currency: str, *, param: str = "amount") -> None:
    minimum = MINIMUM_AMOUNTS.get(currency, 1)
    if amount < minimum:
        raise invalid_request(
            f"Amount must be at least {render.display_amount(minimum, currency)} {currency}",
            param=param,
            code="amount_too_small",
        )
    if amount > MAX_AMOUNT:
        raise invalid_request(
            f"Amount must be no more than {render.display_amount(MAX_AMOUNT, currency)}",
            param=param,
            code="amount_too_large",
        )


def check_url(url: str, param: str) -> str:
    if not re.match(r"^https?://[^\s/]+", url):
        raise invalid_request(f"Not a valid URL: {url}", param=param, code="url_invalid")
    return url


def check_event_types(types: list[str], param: str = "enabled_events") -> list[str]:
    if not types:
        raise invalid_request(f"Missing required param: {param}.", param=param)
    for index, name in enumerate(types):
        if name != "*" and not _EVENT_TYPE.match(name):
            raise invalid_request(f"Invalid {param}[{index}]: {name!r} is not an event type", param=param)
    return types


class Account:
    """Everything one secret key reaches: customers, payment methods and intents, charges, refunds, disputes,
    Checkout Sessions, SetupIntents, events and webhook endpoints."""

    def __init__(
        self,
        *,
        account_id: str,
        now: Callable[[], int],
        ids: IdFactory,
        base_url: Callable[[], str],
        publish: Publisher,
        api_version: str,
        business_name: str | None = None,
    ) -> None:
        self.id = account_id
        self._now = now
        self.ids = ids
        self._base_url = base_url
        self._publish = publish
        self.api_version = api_version
        self.business_name = business_name or "Sandbox merchant"
        self.version = 0  # goes up with every change (the gateway's "did the request do anything?")
        self.webhook_endpoints: dict[str, WebhookEndpoint] = {}
        self.clear()

    def clear(self, *, webhook_endpoints: bool = True) -> None:
        """Forget every object (webhook endpoints too, unless told to keep them)."""
        self._seq = 0
        self.customers: dict[str, Customer] = {}
        self.payment_methods: dict[str, PaymentMethod] = {}
        self.payment_intents: dict[str, PaymentIntent] = {}
        self.charges: dict[str, Charge] = {}
        self.refunds: dict[str, Refund] = {}
        self.disputes: dict[str, Dispute] = {}
        self.setup_intents: dict[str, SetupIntent] = {}
        self.checkout_sessions: dict[str, CheckoutSession] = {}
        self.events: dict[str, Event] = {}
        if webhook_endpoints:
            self.webhook_endpoints.clear()
        self.version += 1

    @property
    def base_url(self) -> str:
        return self._base_url()

    # -- records -----------------------------------------------------------------------------------------------

    def _next(self) -> tuple[int, int]:
        self._seq += 1
        self.version += 1
        return self._now(), self._seq

    def _tables(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "cus_", self.customers
        yield "pm_", self.payment_methods
        yield "pi_", self.payment_intents
        yield "ch_", self.charges
        yield "re_", self.refunds
        yield "dp_", self.disputes
        yield "seti_", self.setup_intents
        yield "cs_", self.checkout_sessions
        yield "evt_", self.events
        yield "we_", self.webhook_endpoints

    def find(self, object_id: str) -> Record | None:
        for prefix, table in self._tables():
            if object_id.startswith(prefix):
                found: Record | None = table.get(object_id)
                return found
        return None

    def render(self, record: Record) -> Json:
        if isinstance(record, Customer):
            return render.customer(record)
        if isinstance(record, PaymentMethod):
            return render.payment_method(record)
        if isinstance(record, PaymentIntent):
            return render.payment_intent(record)
        if isinstance(record, Charge):
            return render.charge(record, [self.refunds[r] for r in record.refunds], self.base_url)
        if isinstance(record, Refund):
            return render.refund(record)
        if isinstance(record, Dispute):
            return render.dispute(record)
        if isinstance(record, SetupIntent):
            return render.setup_intent(record)
        if isinstance(record, CheckoutSession):
            return render.checkout_session(record, self.base_url)
        if isinstance(record, WebhookEndpoint):
            return render.webhook_endpoint(record)
        raise TypeError(f"cannot render {type(record).__name__}")

    def lookup(self, object_id: str) -> Json | None:
        """An object's JSON by id, for ``expand[]`` (events are never expanded)."""
        record = self.find(object_id)
        if record is None or isinstance(record, Event):
            return None
        return self.render(record)

    def _get(self, table: dict[str, Any], kind: str, object_id: str, param: str | None) -> Any:
        record = table.get(object_id)
        if record is None:
            raise resource_missing(kind, object_id, param=param)
        return record

    def customer(self, customer_id: str, param: str | None = "id") -> Customer:
        found: Customer = self._get(self.customers, "customer", customer_id, param)
        return found

    def payment_intent(self, intent_id: str, param: str | None = "intent") -> PaymentIntent:
        found: PaymentIntent = self._get(self.payment_intents, "payment_intent", intent_id, param)
        return found

    def charge(self, charge_id: str, param: str | None = "id") -> Charge:
        found: Charge = self._get(self.charges, "charge", charge_id, param)
        return found

    def refund(self, refund_id: str, param: str | None = "id") -> Refund:
        found: Refund = self._get(self.refunds, "refund", refund_id, param)
        return found

    def dispute(self, dispute_id: str, param: str | None = "id") -> Dispute:
        found: Dispute = self._get(self.disputes, "dispute", dispute_id, param)
        return found

    def setup_intent(self, intent_id: str, param: str | None = "intent") -> SetupIntent:
        found: SetupIntent = self._get(self.setup_intents, "setup_intent", intent_id, param)
        return found

    def checkout_session(self, session_id: str, param: str | None = "session") -> CheckoutSession:
        found: CheckoutSession = self._get(self.checkout_sessions, "checkout.session", session_id, param)
        return found

    def event(self, event_id: str, param: str | None = "id") -> Event:
        found: Event = self._get(self.events, "event", event_id, param)
        return found

    def webhook_endpoint(self, endpoint_id: str, param: str | None = "webhook_endpoint") -> WebhookEndpoint:
        found: WebhookEndpoint = self._get(self.webhook_endpoints, "webhook_endpoint", endpoint_id, param)
        return found

    def payment_method(self, method_id: str, param: str | None = "payment_method") -> PaymentMethod:
        found = self.payment_methods.get(method_id)
        if found is None:
            raise StripeError(
                404,
                "invalid_request_error",
                f"No such PaymentMethod: '{method_id}'",
                code="resource_missing",
                param=param,
            )
        return found

    # -- events ------------------------------------------------------------------------------------------------

    def publish(self, event_type: str, body: Json, origin: Origin, previous: Json | None = None) -> Event:
        """Record an event (``body`` is the object's JSON as it is now) and hand it to the webhook dispatcher."""
        created, seq = self._next()
        data: Json = {"object": body}
        if previous:
            data["previous_attributes"] = previous
        event = Event(self.ids.new("evt"), created, seq, event_type, self.api_version, data, origin)
        self.events[event.id] = event
        self._publish(self, event)
        return event

    # -- customers ---------------------------------------------------------------------------------------------

    def create_customer(self, fields: Json, metadata: dict[str, str], origin: Origin) -> Customer:
        method = fields.pop("payment_method", None)
        default = fields.pop("default_payment_method", None)
        if method is not None:
            self._attachable(method, None, param="payment_method")
        if default is not None and default != method:
            raise invalid_request(
                f"The customer does not have a payment method with the ID {default}. The payment method must be "
                "attached to the customer.",
                param="invoice_settings[default_payment_method]",
            )
        created, seq = self._next()
        record = Customer(
            self.ids.new("cus", 14), created, seq, metadata=metadata, invoice_prefix=self.ids.token(8).upper(), **fields
        )
        self.customers[record.id] = record
        self.publish("customer.created", render.customer(record), origin)
        if method is not None:
            attached = self.attach(method, record.id, origin)
            if default is not None:
                record.default_payment_method = attached.id
        return record

    def update_customer(
        self, customer_id: str, fields: Json, metadata: dict[str, str | None] | None, origin: Origin
    ) -> Customer:
        record = self.customer(customer_id)
        if "default_payment_method" in fields:
            default = fields["default_payment_method"]
            if default is not None:
                method = self.payment_methods.get(default)
                if method is None or method.customer != record.id:
                    raise invalid_request(
                        f"The customer does not have a payment method with the ID {default}. The payment method "
                        "must be attached to the customer.",
                        param="invoice_settings[default_payment_method]",
                    )
        before = render.customer(record)
        for name, value in fields.items():
            setattr(record, name, value)
        if metadata is not None:
            record.metadata = merge_metadata(record.metadata, metadata)
        self.version += 1
        after = render.customer(record)
        self.publish("customer.updated", after, origin, _previous(before, after))
        return record

    def delete_customer(self, customer_id: str, origin: Origin) -> Json:
        record = self.customer(customer_id)
        body = render.customer(record)
        del self.customers[customer_id]
        for method in self.payment_methods.values():
            if method.customer == customer_id:
                method.customer = None
        self.version += 1
        self.publish("customer.deleted", body, origin)
        return render.deleted("customer", customer_id)

    # -- payment methods ---------------------------------------------------------------------------------------

    def _card(self, reference: str, param: str) -> tuple[TestCard, PaymentMethod | None]:
        """The card behind a test token or an existing PaymentMethod id (checked, nothing created yet)."""
        card = card_for_token(reference)
        if card is not None:
            return card, None
        method = self.payment_method(reference, param=param)
        return method.card, method

    def new_payment_method(self, card: TestCard, *, email: str | None = None, name: str | None = None) -> PaymentMethod:
        created, seq = self._next()
        method = PaymentMethod(self.ids.new("pm"), created, seq, card, billing_email=email, billing_name=name)
        self.payment_methods[method.id] = method
        return method

    def retrieve_payment_method(self, reference: str) -> PaymentMethod:
        """A PaymentMethod; a test token (``pm_card_visa``) gives a new one each time, as in Stripe's test mode."""
        card, method = self._card(reference, "payment_method")
        return method if method is not None else self.new_payment_method(card)

    def _attachable(self, reference: str, customer_id: str | None, *, param: str) -> None:
        _card, method = self._card(reference, param)
        if method is not None and method.customer is not None and method.customer != customer_id:
            raise invalid_request(
                "The payment method you provided has already been attached to a customer.", param=param
            )

    def attach(self, reference: str, customer_id: str, origin: Origin) -> PaymentMethod:
        customer = self.customer(customer_id, param="customer")
        self._attachable(reference, customer.id, param="payment_method")
        card, method = self._card(reference, "payment_method")
        if method is None:
            method = self.new_payment_method(card)
        if method.customer == customer.id:
            return method
        method.customer = customer.id
        self.version += 1
        self.publish("payment_method.attached", render.payment_method(method), origin)
        return method

    def detach(self, method_id: str, origin: Origin) -> PaymentMethod:
        method = self.payment_method(method_id, param="payment_method")
        if method.customer is None:
            raise invalid_request(
                f"The payment method {method_id} is not attached to a customer so detachment is impossible.",
                param="payment_method",
            )
        customer = self.customers.get(method.customer)
        if customer is not None and customer.default_payment_method == method.id:
            customer.default_payment_method = None
        before = render.payment_method(method)
        method.customer = None
        self.version += 1
        self.publish("payment_method.detached", render.payment_method(method), origin, {"customer": before["customer"]})
        return method

    # -- payment intents ---------------------------------------------------------------------------------------

    def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        payment_method: str | None,
        confirm: bool,
        off_session: bool,
        return_url: str | None,
        automatic: bool,
        allow_redirects: Literal["always", "never"],
        payment_method_types: list[str],
        description: str | None,
        metadata: dict[str, str],
        receipt_email: str | None,
        setup_future_usage: str | None,
        origin: Origin,
    ) -> PaymentIntent:
        check_amount(amount, currency)
        if customer is not None:
            self.customer(customer, param="customer")
        if payment_method is not None:
            self._usable(payment_method, customer)
        created, seq = self._next()
        intent_id = self.ids.new("pi")
        intent = PaymentIntent(
            intent_id,
            created,
            seq,
            amount,
            currency,
            f"{intent_id}_secret_{self.ids.token(25)}",
            customer=customer,
            description=description,
            metadata=metadata,
            receipt_email=receipt_email,
            payment_method_types=payment_method_types,
            automatic_payment_methods=automatic,
            allow_redirects=allow_redirects,
            return_url=return_url,
            setup_future_usage=setup_future_usage,
        )
        if confirm:
            # Checked before anything is saved: a refused create leaves no PaymentIntent behind.
            self._check_confirmable(intent, payment_method, return_url)
        if payment_method is not None:
            intent.payment_method = self._materialise(payment_method).id
            intent.status = "requires_confirmation"
        self.payment_intents[intent.id] = intent
        self.publish("payment_intent.created", render.payment_intent(intent), origin)
        if confirm:
            self.confirm(intent.id, payment_method=None, off_session=off_session, return_url=return_url, origin=origin)
        return intent

    def _usable(self, reference: str, customer_id: str | None) -> None:
        _card, method = self._card(reference, "payment_method")
        if method is not None and method.customer is not None and method.customer != customer_id:
            raise invalid_request(
                f"The provided PaymentMethod {method.id} belongs to another customer; it cannot be used with "
                f"{'customer ' + customer_id if customer_id else 'a PaymentIntent without a customer'}.",
                param="payment_method",
            )

    def _materialise(self, reference: str) -> PaymentMethod:
        card, method = self._card(reference, "payment_method")
        return method if method is not None else self.new_payment_method(card)

    def check_confirmable(self, intent_id: str, payment_method: str | None, return_url: str | None) -> None:
        """Refuse a confirmation before anything changes (so a refused one leaves the intent as it was)."""
        self._check_confirmable(self.payment_intent(intent_id), payment_method, return_url)

    def _check_confirmable(self, intent: PaymentIntent, payment_method: str | None, return_url: str | None) -> None:
        if intent.status == "succeeded":
            raise unexpected_state(
                "You cannot confirm this PaymentIntent because it has already succeeded after being previously "
                "confirmed."
            )
        if intent.status not in CONFIRMABLE:
            raise unexpected_state(
                f"You cannot confirm this PaymentIntent because it has a status of {intent.status}. Only a "
                f"PaymentIntent with one of the following statuses may be confirmed: {', '.join(CONFIRMABLE)}."
            )
        reference = payment_method or intent.payment_method
        if reference is None:
            raise unexpected_state(MISSING_PAYMENT_METHOD_MESSAGE)
        self._usable(reference, intent.customer)
        if (
            intent.automatic_payment_methods
            and intent.allow_redirects != "never"
            and not (return_url or intent.return_url)
        ):
            raise invalid_request(RETURN_URL_MESSAGE)

    def confirm(
        self,
        intent_id: str,
        *,
        payment_method: str | None,
        off_session: bool,
        return_url: str | None,
        origin: Origin,
    ) -> PaymentIntent:
        """Try the card: success, a decline (a 402 raised after the failure is saved), or 3-D Secure."""
        intent = self.payment_intent(intent_id)
        self._check_confirmable(intent, payment_method, return_url)
        method = self._materialise(payment_method or intent.payment_method or "")
        intent.payment_method = method.id
        intent.return_url = return_url or intent.return_url
        intent.last_payment_error = None
        intent.next_action = None
        self.version += 1
        card = method.card
        if card.behaviour == "succeeds":
            self._succeed(intent, method, origin, three_d_secure=False)
        elif card.behaviour == "declines":
            self._decline(intent, method, origin)
        elif off_session:
            error = StripeError(
                402,
                "card_error",
                AUTHENTICATION_REQUIRED_MESSAGE,
                code="authentication_required",
                decline_code="authentication_required",
                payment_method=render.payment_method(method),
            )
            raise self._fail(intent, error, origin)
        else:
            intent.status = "requires_action"
            intent.next_action = {
                "redirect_to_url": {
                    "return_url": intent.return_url,
                    "url": f"{self.base_url}/authenticate/{intent.id}",
                },
                "type": "redirect_to_url",
            }
            self.publish("payment_intent.requires_action", render.payment_intent(intent), origin)
        return intent

    def _succeed(self, intent: PaymentIntent, method: PaymentMethod, origin: Origin, *, three_d_secure: bool) -> None:
        created, seq = self._next()
        charge = Charge(
            self.ids.new("ch"),
            created,
            seq,
            intent.amount,
            intent.currency,
            method.card,
            method.id,
            "succeeded",
            payment_intent=intent.id,
            customer=intent.customer,
            description=intent.description,
            metadata=dict(intent.metadata),
            receipt_email=intent.receipt_email,
            balance_transaction=self.ids.new("txn"),
            three_d_secure=three_d_secure,
        )
        self.charges[charge.id] = charge
        intent.status = "succeeded"
        intent.amount_received = intent.amount
        intent.latest_charge = charge.id
        intent.next_action = None
        intent.last_payment_error = None
        self.publish("charge.succeeded", self.render(charge), origin)
        self.publish("payment_intent.succeeded", render.payment_intent(intent), origin)
        if intent.setup_future_usage and intent.customer is not None and method.customer is None:
            self.attach(method.id, intent.customer, origin)

    def _decline(self, intent: PaymentIntent, method: PaymentMethod, origin: Origin) -> None:
        card = method.card
        message = card.message or "Your card was declined."
        created, seq = self._next()
        charge = Charge(
            self.ids.new("ch"),
            created,
            seq,
            intent.amount,
            intent.currency,
            card,
            method.id,
            "failed",
            payment_intent=intent.id,
            customer=intent.customer,
            description=intent.description,
            metadata=dict(intent.metadata),
            receipt_email=intent.receipt_email,
            failure_code=card.error_code,
            failure_message=message,
        )
        self.charges[charge.id] = charge
        intent.latest_charge = charge.id
        self.publish("charge.failed", self.render(charge), origin)
        error = StripeError(
            402,
            "card_error",
            message,
            code=card.error_code or "card_declined",
            decline_code=card.decline_code,
            charge=charge.id,
            payment_method=render.payment_method(method),
        )
        raise self._fail(intent, error, origin)

    def _fail(self, intent: PaymentIntent, error: StripeError, origin: Origin) -> StripeError:
        """The attempt failed: the intent waits for another payment method and remembers why. Returns the error,
        with the PaymentIntent as it now is, for the caller to raise."""
        intent.status = "requires_payment_method"
        intent.payment_method = None
        intent.next_action = None
        intent.last_payment_error = error.fields()
        self.version += 1
        self.publish("payment_intent.payment_failed", render.payment_intent(intent), origin)
        error.payment_intent = render.payment_intent(intent)
        return error

    def authenticate(self, intent_id: str, *, succeed: bool, origin: Origin = NO_ORIGIN) -> PaymentIntent:
        """The member's answer on the 3-D Secure page."""
        intent = self.payment_intent(intent_id)
        if intent.status != "requires_action" or intent.payment_method is None:
            raise unexpected_state(
                f"This PaymentIntent has a status of {intent.status}; only a PaymentIntent that requires action "
                "can be authenticated."
            )
        method = self.payment_methods[intent.payment_method]
        if succeed:
            self._succeed(intent, method, origin, three_d_secure=True)
            return intent
        error = StripeError(
            402,
            "card_error",
            AUTHENTICATION_FAILED_MESSAGE,
            code="payment_intent_authentication_failure",
            payment_method=render.payment_method(method),
        )
        self._fail(intent, error, origin)  # the page shows the failure; nothing is raised
        return intent

    def update_payment_intent(
        self, intent_id: str, fields: Json, metadata: dict[str, str | None] | None, origin: Origin
    ) -> PaymentIntent:
        intent = self.payment_intent(intent_id)
        if intent.status in ("succeeded", "canceled") and set(fields) - {"description", "receipt_email"}:
            raise unexpected_state(
                f"This PaymentIntent's {', '.join(sorted(fields))} could not be updated because it has a status of "
                f"{intent.status}. You may only update the {', '.join(sorted(fields))} of a PaymentIntent with one "
                "of the following statuses: requires_payment_method, requires_confirmation, requires_action."
            )
        if "amount" in fields:
            check_amount(fields["amount"], fields.get("currency", intent.currency))
        if fields.get("customer") is not None:
            self.customer(fields["customer"], param="customer")
        if fields.get("payment_method") is not None:
            self._usable(fields["payment_method"], fields.get("customer", intent.customer))
            fields["payment_method"] = self._materialise(fields["payment_method"]).id
        for name, value in fields.items():
            setattr(intent, name, value)
        if "payment_method" in fields and intent.status in ("requires_payment_method", "requires_confirmation"):
            intent.status = "requires_confirmation" if intent.payment_method else "requires_payment_method"
        if metadata is not None:
            intent.metadata = merge_metadata(intent.metadata, metadata)
        self.version += 1
        return intent

    def cancel(self, intent_id: str, reason: str | None, origin: Origin) -> PaymentIntent:
        intent = self.payment_intent(intent_id)
        if intent.status not in CANCELABLE:
            raise unexpected_state(
                f"You cannot cancel this PaymentIntent because it has a status of {intent.status}. Only a "
                f"PaymentIntent with one of the following statuses may be canceled: {', '.join(CANCELABLE)}."
            )
        self._cancel(intent, reason, origin)
        return intent

    def _cancel(self, intent: PaymentIntent, reason: str | None, origin: Origin) -> None:
        intent.status = "canceled"
        intent.canceled_at = self._now()
        intent.cancellation_reason = reason
        intent.next_action = None
        self.version += 1
        self.publish("payment_intent.canceled", render.payment_intent(intent), origin)

    # -- refunds and disputes ----------------------------------------------------------------------------------

    def create_refund(
        self,
        *,
        charge_id: str | None,
        intent_id: str | None,
        amount: int | None,
        reason: str | None,
        metadata: dict[str, str],
        origin: Origin,
    ) -> Refund:
        if charge_id is None and intent_id is None:
            raise invalid_request(
                "One of the following params should be provided for this request: payment_intent or charge."
            )
        if charge_id is not None and intent_id is not None:
            raise invalid_request("You cannot provide both payment_intent and charge; provide only one of them.")
        if intent_id is not None:
            intent = self.payment_intent(intent_id, param="payment_intent")
            if intent.status != "succeeded" or intent.latest_charge is None:
                raise invalid_request(
                    f"This PaymentIntent ({intent.id}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge = self.charges[intent.latest_charge]
        else:
            charge = self.charge(charge_id or "", param="charge")
            if charge.status != "succeeded":
                raise invalid_request(
                    f"Charge {charge.id} has not succeeded; there is nothing to refund.", param="charge"
                )
        if charge.dispute is not None:
            raise invalid_request(
                f"Charge {charge.id} has been charged back; cannot issue a refund.", code="charge_disputed"
            )
        remaining = charge.amount - charge.amount_refunded
        if remaining <= 0:
            raise invalid_request(f"Charge {charge.id} has already been refunded.", code="charge_already_refunded")
        wanted = remaining if amount is None else amount
        if wanted > remaining:
            raise invalid_request(
                f"Refund amount ({render.display_amount(wanted, charge.currency)}) is greater than unrefunded amount "
                f"on charge ({render.display_amount(remaining, charge.currency)})",
                param="amount",
                code="amount_too_large",
            )
        before = self.render(charge)
        created, seq = self._next()
        refund = Refund(
            self.ids.new("re"),
            created,
            seq,
            wanted,
            charge.currency,
            charge.id,
            charge.payment_intent,
            self.ids.new("txn"),
            reason=reason,
            metadata=metadata,
        )
        self.refunds[refund.id] = refund
        charge.amount_refunded += wanted
        charge.refunds.append(refund.id)
        after = self.render(charge)
        self.publish("refund.created", render.refund(refund), origin)
        self.publish("charge.refunded", after, origin, _previous(before, after))
        return refund

    def open_dispute(self, charge_id: str, reason: str, origin: Origin = NO_ORIGIN) -> Dispute:
        """The cardholder disputes the charge with their bank (a control endpoint stands in for the bank)."""
        charge = self.charge(charge_id)
        if charge.status != "succeeded":
            raise invalid_request(f"Charge {charge.id} did not succeed; only a paid charge can be disputed.")
        if charge.dispute is not None:
            raise invalid_request(f"Charge {charge.id} is already disputed ({charge.dispute}).")
        created, seq = self._next()
        dispute = Dispute(
            self.ids.new("dp"),
            created,
            seq,
            charge.amount,
            charge.currency,
            charge.id,
            charge.payment_intent,
            charge.card,
            reason,
            due_by=created + DISPUTE_RESPONSE_DAYS * 86_400,
        )
        self.disputes[dispute.id] = dispute
        charge.dispute = dispute.id
        self.publish("charge.dispute.created", render.dispute(dispute), origin)
        return dispute

    # -- checkout ----------------------------------------------------------------------------------------------

    def create_checkout_session(self, session: CheckoutSession, origin: Origin) -> CheckoutSession:
        if session.customer is not None:
            self.customer(session.customer, param="customer")
        if session.mode == "payment":
            check_amount(session.amount_total, session.currency or "", param="line_items")
        created, seq = self._next()
        record = replace(
            session,
            id=self.ids.new("cs_test", 58),
            created=created,
            seq=seq,
            expires_at=session.expires_at or created + int(SESSION_LIFETIME.total_seconds()),
        )
        self.checkout_sessions[record.id] = record
        return record

    def complete_checkout(
        self, session_id: str, token: str, *, email: str | None = None, name: str | None = None
    ) -> CheckoutOutcome:
        """The member pays (or saves a card) on the hosted page with one of the test cards."""
        self.sweep()
        session = self.checkout_session(session_id)
        if session.status != "open":
            raise invalid_request(
                f"This Checkout Session is {session.status}; it cannot be paid or used again.", code="checkout_closed"
            )
        card = card_for_token(token)
        if card is None:
            choices = ", ".join(TEST_CARDS)
            raise invalid_request(f"Unknown test card {token!r}; choose one of {choices}", param="payment_method")
        customer = self.customers.get(session.customer) if session.customer else None
        email = email or session.customer_email or (customer.email if customer else None)
        session.customer_details = {
            "address": None,
            "business_name": None,
            "email": email,
            "individual_name": None,
            "name": name or (customer.name if customer else None),
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }
        method = self.new_payment_method(card, email=email, name=name)
        if session.mode == "setup":
            if customer is not None:
                self.attach(method.id, customer.id, NO_ORIGIN)
            created, seq = self._next()
            setup = SetupIntent(
                self.ids.new("seti"),
                created,
                seq,
                "",
                status="succeeded",
                customer=session.customer,
                payment_method=method.id,
                description=session.intent_description,
                metadata=dict(session.intent_metadata),
            )
            setup.client_secret = f"{setup.id}_secret_{self.ids.token(25)}"
            self.setup_intents[setup.id] = setup
            session.setup_intent = setup.id
            self.publish("setup_intent.created", render.setup_intent(setup), NO_ORIGIN)
            self.publish("setup_intent.succeeded", render.setup_intent(setup), NO_ORIGIN)
            return self._complete(session)
        intent = self._checkout_intent(session)
        try:
            self.confirm(intent.id, payment_method=method.id, off_session=False, return_url=None, origin=NO_ORIGIN)
        except StripeError as error:
            session.last_error = error.message
            return CheckoutOutcome("declined", session, message=error.message)
        if intent.status == "requires_action":
            return CheckoutOutcome("requires_action", session, redirect_url=f"{self.base_url}/authenticate/{intent.id}")
        return self._complete(session)

    def _checkout_intent(self, session: CheckoutSession) -> PaymentIntent:
        """The session's PaymentIntent, made at the first attempt and reused after a decline (as Checkout does)."""
        if session.payment_intent is not None:
            return self.payment_intents[session.payment_intent]
        created, seq = self._next()
        intent_id = self.ids.new("pi")
        intent = PaymentIntent(
            intent_id,
            created,
            seq,
            session.amount_total,
            session.currency or "",
            f"{intent_id}_secret_{self.ids.token(25)}",
            customer=session.customer,
            description=session.intent_description,
            metadata=dict(session.intent_metadata),
            receipt_email=session.receipt_email,
            automatic_payment_methods=False,
            setup_future_usage=session.setup_future_usage,
            checkout_session=session.id,
        )
        self.payment_intents[intent.id] = intent
        session.payment_intent = intent.id
        self.publish("payment_intent.created", render.payment_intent(intent), NO_ORIGIN)
        return intent

    def _complete(self, session: CheckoutSession) -> CheckoutOutcome:
        intent = self.payment_intents.get(session.payment_intent or "")
        if session.customer in self.customers and intent is not None and intent.payment_method is not None:
            # The card that paid is kept on the member's customer (a declined one is not), for later charges.
            self.attach(intent.payment_method, session.customer or "", NO_ORIGIN)
        session.status = "complete"
        session.last_error = None
        self.version += 1
        self.publish("checkout.session.completed", render.checkout_session(session, self.base_url), NO_ORIGIN)
        return CheckoutOutcome("complete", session, redirect_url=success_redirect(session))

    def after_authentication(self, intent: PaymentIntent) -> str | None:
        """Where the member goes after the 3-D Secure page: a Checkout Session completes (or shows the failure);
        an API-made PaymentIntent returns to its ``return_url`` with Stripe's query parameters."""
        if intent.checkout_session is not None:
            session = self.checkout_sessions[intent.checkout_session]
            if intent.status == "succeeded":
                return self._complete(session).redirect_url
            session.last_error = AUTHENTICATION_FAILED_MESSAGE
            return f"{self.base_url}/checkout/{session.id}"
        if intent.return_url is None:
            return None
        outcome = "succeeded" if intent.status == "succeeded" else "failed"
        joiner = "&" if "?" in intent.return_url else "?"
        return (
            f"{intent.return_url}{joiner}payment_intent={intent.id}&payment_intent_client_secret="
            f"{intent.client_secret}&redirect_status={outcome}"
        )

    def expire_session(self, session_id: str, origin: Origin) -> CheckoutSession:
        session = self.checkout_session(session_id)
        if session.status != "open":
            raise invalid_request(
                f"This Checkout Session has a status of {session.status}; only an open session can be expired.",
                param="session",
            )
        self._expire(session, origin)
        return session

    def _expire(self, session: CheckoutSession, origin: Origin) -> None:
        session.status = "expired"
        self.version += 1
        intent = self.payment_intents.get(session.payment_intent or "")
        if intent is not None and intent.status in CANCELABLE:
            self._cancel(intent, "abandoned", origin)
        self.publish("checkout.session.expired", render.checkout_session(session, self.base_url), origin)

    def sweep(self) -> None:
        """Expire the open Checkout Sessions whose time is up (Stripe does it in the background)."""
        now = self._now()
        for session in list(self.checkout_sessions.values()):
            if session.status == "open" and session.expires_at <= now:
                self._expire(session, NO_ORIGIN)

    # -- webhook endpoints -------------------------------------------------------------------------------------

    def create_webhook_endpoint(
        self,
        *,
        url: str,
        enabled_events: list[str],
        description: str | None,
        metadata: dict[str, str],
        api_version: str | None,
    ) -> WebhookEndpoint:
        created, seq = self._next()
        endpoint = WebhookEndpoint(
            self.ids.new("we"),
            created,
            seq,
            url,
            f"whsec_{self.ids.token(32)}",
            enabled_events,
            api_version=api_version,
            description=description,
            metadata=metadata,
        )
        self.webhook_endpoints[endpoint.id] = endpoint
        return endpoint

    def delete_webhook_endpoint(self, endpoint_id: str) -> Json:
        self.webhook_endpoint(endpoint_id)
        del self.webhook_endpoints[endpoint_id]
        self.version += 1
        return render.deleted("webhook_endpoint", endpoint_id)

    # -- what the control endpoints show -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {
            "customers": len(self.customers),
            "payment_methods": len(self.payment_methods),
            "payment_intents": len(self.payment_intents),
            "charges": len(self.charges),
            "refunds": len(self.refunds),
            "disputes": len(self.disputes),
            "setup_intents": len(self.setup_intents),
            "checkout_sessions": len(self.checkout_sessions),
            "events": len(self.events),
            "webhook_endpoints": len(self.webhook_endpoints),
        }


def success_redirect(session: CheckoutSession) -> str | None:
    """The success URL with ``{CHECKOUT_SESSION_ID}`` replaced by the session's id."""
    if session.success_url is None:
        return None
    return session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id)


def merge_metadata(current: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """Apply a metadata update: ``{}`` clears everything, a ``None`` value removes one key.

    >>> merge_metadata({"a": "1", "b": "2"}, {"b": None, "c": "3"})
    {'a': '1', 'c': '3'}
    """
    if not changes:
        return {}
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _previous(before: Json, after: Json) -> Json:
    """Stripe's ``previous_attributes``: the old values of the top-level fields that changed."""
    return {key: value for key, value in before.items() if after.get(key) != value}
