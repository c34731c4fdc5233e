"""A faithful local stand-in of QuickBooks Online: the Accounting API, Intuit's OAuth 2.0 and webhooks.

Operators rehearse a month against it before going live, the demo runs on it, and the QuickBooks connector's
integration tests talk to it over real HTTP. It holds one company, "Demo Coworking Ltd" (UK, home currency GBP,
multicurrency on with EUR, VAT codes, Locations London and Berlin; see :mod:`flexbill.sandbox.quickbooks.demo`),
with one fixed realm id (:data:`flexbill.sandbox.quickbooks.demo.REALM_ID`), and every client that authorises
reaches it. Everything is in memory; the rules it enforces are listed in :mod:`flexbill.sandbox.quickbooks.company`.

Mounted at ``/quickbooks`` by :func:`flexbill.sandbox.app.create_sandbox_app`, so with the server on port P:

* Accounting API: ``http://127.0.0.1:P/quickbooks/v3/company/{realmId}/...`` (JSON only; ``Accept:
  application/pdf`` for PDFs); ``?minorversion=N`` is accepted (missing or below 75 is answered as 75, a
  non-number is a 400 Fault). Entities ``customer``, ``invoice``, ``creditmemo``, ``payment``, ``refundreceipt``
  and ``item`` (create, read, update, sparse update; delete and void where QuickBooks allows them), and
  ``account``, ``taxcode``, ``taxrate``, ``department``, ``vendor``, ``employee`` (read and query);
  ``companyinfo/{realmId}``, ``preferences``, ``query`` (GET, or POST with ``Content-Type:
  application/text``), ``batch`` (at most 30 items), ``cdc`` (at most 30 days back, 1,000 objects),
  ``invoice/{id}/pdf``, ``creditmemo/{id}/pdf``, ``invoice/{id}/send``. Any call may carry ``requestid`` (at
  most 50 characters, 36 on a batch): the same requestid again gets the first answer.
* OAuth 2.0: discovery at ``/quickbooks/.well-known/openid_configuration``; authorize
  ``/quickbooks/connect/oauth2``; token ``/quickbooks/oauth2/v1/tokens/bearer``; revoke
  ``/quickbooks/oauth2/v1/tokens/revoke``; userinfo ``/quickbooks/v1/openid_connect/userinfo``; keys
  ``/quickbooks/oauth2/v1/keys`` (see :mod:`flexbill.sandbox.quickbooks.oauth` for lifetimes and rolling
  refresh tokens).
* Errors: the Fault envelope ``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type"}, "time"}``
  (HTTP 400 for validation); a bad token is a 401 with Intuit's lower-case ``fault`` body; a throttled call a 429
  with Fault 3001 and no ``Retry-After`` (see :mod:`flexbill.sandbox.quickbooks.limits`).
* Control: ``/quickbooks/_sandbox/...`` (below); the OpenAPI page of all of it is ``/quickbooks/_sandbox/docs``.

Control endpoints (no token needed; never counted, throttled or faulted)
-------------------------------------------------------------------------

``GET /_sandbox/state``
    Counts of records (and voided invoices, deleted records); API calls in total, by endpoint
    (``POST /v3/company/{realmId}/invoice``) and by status; 429s by limit; Faults by code; lost responses;
    throttle windows; requestids kept and replayed; pending and fired faults; tokens; webhook deliveries;
    preferences; sandbox time.
``POST /_sandbox/reset``  ``{"tokens": false}``
    A fresh demo company (same realm id), preferences back to their defaults; counters, faults, requestids and
    windows cleared. Webhook settings, limits and the clock are kept; tokens too unless ``"tokens": true``.
``GET /_sandbox/webhooks``, ``PUT /_sandbox/webhooks``  ``{"url": "...", "verifier_token": "...", "format":
"cloudevents" | "legacy"}``
    Where notices are POSTed, the verifier token that signs them and their format (``null`` url turns webhooks
    off); GET shows deliveries.
``POST /_sandbox/webhooks/flush``
    Waits until every notice noted so far is delivered or given up.
``POST /_sandbox/tokens``  ``{"client_id": "...", "scope": "com.intuit.quickbooks.accounting"}``
    Tokens for a client without the browser round trip (plus ``realm_id``).
``POST /_sandbox/tokens/revoke-all``, ``POST /_sandbox/tokens/expire-access``
    Revoke every grant; or make every access token expire now (refresh tokens still work).
``GET /_sandbox/limits``, ``PUT /_sandbox/limits``  ``{"per_minute", "per_second", "concurrent",
"batch_per_minute", "throttle_body": "json" | "xml"}``
    QuickBooks' throttles by default (500, 10, 10, 40; JSON); fields left out are kept.
``GET /_sandbox/preferences``, ``PUT /_sandbox/preferences``  ``{"custom_txn_numbers": true, "custom_field":
false, "print_custom_field": true}``
    ``SalesFormsPrefs.CustomTxnNumbers`` (off by default), whether the sales forms' custom field "flexbill id"
    (DefinitionId 1) is defined (on by default) and whether it is printed on the PDF, QuickBooks' "Print on form"
    (off by default: the id is for the books, not for the member).
``GET /_sandbox/time``, ``PUT /_sandbox/time``  ``{"time_scale": 60, "advance_seconds": 3600, "now": "...",
"running": true}``
    Sandbox time, shared with the other sandboxes of the server: speed, a jump forward, a new instant, a stop.
``GET /_sandbox/faults``, ``POST /_sandbox/faults``, ``DELETE /_sandbox/faults``
    Injected faults; POST ``{"kind", "method", "path", "count", "status", "code", "message", "detail",
    "seconds", "xml", "mode"}`` (see :mod:`flexbill.sandbox.quickbooks.faults` for the kinds and what a lost
    response does).

Changes a user makes in QuickBooks (each sends the notices QuickBooks would):

``POST /_sandbox/invoices/{Id or DocNumber}/pay``  ``{"amount", "date", "account_id", "reference"}``
    Receive a payment against the invoice (its whole balance when ``amount`` is left out; into account 35,
    "Business Bank Account", unless told otherwise).
``POST /_sandbox/invoices/{Id or DocNumber}/void``
    Void the invoice (refused while payments are linked to it, as in QuickBooks).
``POST /_sandbox/invoices/{Id or DocNumber}/delete``
    Delete the invoice (refused while payments are linked to it).
``POST /_sandbox/customers/{Id}``  ``{"DisplayName": ..., "PrimaryEmailAddr": {...}}``
    Edit a customer with QuickBooks' field names (a sparse update).
"""

from flexbill.sandbox.quickbooks.app import create_quickbooks_app
from flexbill.sandbox.quickbooks.limits import Limits
from flexbill.sandbox.quickbooks.sandbox import QuickBooksSandbox

__all__ = ["Limits", "QuickBooksSandbox", "create_quickbooks_app"]
