"""A faithful local stand-in of Xero: the Accounting API, the identity service (OAuth 2.0) and webhooks.

Operators rehearse a month against it before going live, the demo runs on it, and the Xero connector's
integration tests talk to it over real HTTP. It holds one organisation, "Demo Coworking Ltd" (UK, GBP, with
EUR enabled), and every client that authorises gets access to it. Everything is in memory.

Mounted at ``/xero`` by :func:`flexbill.sandbox.app.create_sandbox_app`, so with the server on port P:

* Accounting API: ``http://127.0.0.1:P/xero/api.xro/2.0`` (JSON only; ``Accept: application/pdf`` for PDFs)
* Identity: ``/xero/identity/connect/authorize``, ``/xero/identity/connect/token``,
  ``/xero/identity/connect/revocation``, ``GET/DELETE /xero/connections``
* Control: ``/xero/_sandbox/...`` (below); the OpenAPI page of all of it is ``/xero/_sandbox/docs``

Control endpoints (no token needed; never counted, limited or faulted)
----------------------------------------------------------------------

``GET /_sandbox/state``
    Counts of contacts, invoices (and by status), credit notes, payments and allocations; API calls in total,
    by endpoint (``GET /api.xro/2.0/Invoices/{id}``) and by status; 429s sent in total and by limit
    (``throttled``, ``throttled_by_problem``); lost responses; rate-limit windows; idempotency keys; pending and
    fired faults; tokens; webhook deliveries; sandbox time.
``POST /_sandbox/reset``  ``{"tokens": false}``
    A fresh demo organisation (same tenant id); counters, faults, keys and windows cleared. Webhook settings,
    limits and the clock are kept; tokens too unless ``"tokens": true``.
``GET /_sandbox/webhooks``, ``PUT /_sandbox/webhooks``  ``{"url": "...", "key": "..."}``
    Where events are POSTed and the signing key (``null`` url turns webhooks off); GET shows deliveries.
``POST /_sandbox/webhooks/intent-to-receive``  ``{"rounds": 4}``
    Xero's check: empty payloads alternately signed wrongly and rightly; answers (and records) whether the
    receiver said 401 and 200 as it should.
``POST /_sandbox/webhooks/flush``
    Waits until every event noted so far is delivered or given up.
``POST /_sandbox/tokens``  ``{"client_id": "...", "scope": "..."}``
    Tokens for a client without the browser round trip (plus ``tenant_id``).
``POST /_sandbox/tokens/revoke-all``, ``POST /_sandbox/tokens/expire-access``
    Revoke every grant and connection; or make every access token expire now (refresh tokens still work).
``GET /_sandbox/limits``, ``PUT /_sandbox/limits``  ``{"concurrent", "per_minute", "per_day", "app_per_minute"}``
    Xero's limits by default (5, 60, 5,000, 10,000); fields left out are kept.
``GET /_sandbox/time``, ``PUT /_sandbox/time``  ``{"time_scale": 60, "advance_seconds": 3600, "now": "...",
"running": true}``
    Sandbox time: speed, a jump forward, a new instant, or a stopped clock.
``GET /_sandbox/faults``, ``POST /_sandbox/faults``, ``DELETE /_sandbox/faults``
    Injected faults; POST ``{"kind", "method", "path", "count", "seconds", "status", "problem", "retry_after",
    "mode"}`` (see :mod:`flexbill.sandbox.xero.faults` for the kinds and what a lost response does).

Changes a user makes in Xero (each sends the webhooks Xero would):

``POST /_sandbox/invoices/{InvoiceID or InvoiceNumber}/pay``  ``{"amount", "date", "account_code", "reference",
"reconciled"}``
    Record a payment (all that is due when ``amount`` is left out; to account 090 unless told otherwise).
``POST /_sandbox/invoices/{InvoiceID or InvoiceNumber}/void``
    Void an approved invoice (refused while it has payments, as in Xero).
``POST /_sandbox/payments/{PaymentID}/delete``
    Remove a payment (even a reconciled one, which the API itself refuses).
``POST /_sandbox/contacts/{ContactID or ContactNumber}``  ``{"Name": ..., "EmailAddress": ...}``
    Edit a contact with Xero's field names.
"""

from flexbill.sandbox.xero.app import create_xero_app
from flexbill.sandbox.xero.limits import Limits
from flexbill.sandbox.xero.sandbox import XeroSandbox

__all__ = ["Limits", "XeroSandbox", "create_xero_app"]
