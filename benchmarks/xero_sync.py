"""How efficiently does a month reach Xero?

    python benchmarks/xero_sync.py --invoices 2000

bills a month of that many invoices (one customer and one membership each) with accounting sync on (auto) and the
PDFs fetched for sending, then lets the worker send everything to the Xero sandbox at Xero's real limits (60 calls a
minute, 5 at once, 5,000 a day) and prints:

- API calls per invoice (contacts, invoices and PDFs together; the OAuth calls go to Xero's identity service, which
  has no such limit, and are not counted),
- the share of the per-minute limit used while syncing (calls made / calls the minutes allowed),
- the 429s received, and how many came after the first.

The sandbox compresses time by ``--time-scale`` (default 10: a Xero minute lasts six real seconds), reported with the
figures; the limits themselves are Xero's. Targets: <= 1.1 calls per invoice, >= 90% of the per-minute limit used,
no 429 after the first.

Runs on a fresh SQLite file by default, or on a PostgreSQL database whose name contains "bench" (emptied first).
"""

from __future__ import annotations

from books_sync import Books, arguments, main

XERO = Books(
    name="Xero",
    provider="xero",
    root=lambda sandbox: sandbox.xero_url,
    mappings={"accounts": {"4000": "200"}, "tax_rates": {"VAT20": "OUTPUT2"}, "payment_account": "090"},
    state=lambda sandbox: sandbox.xero.state(),
    # The Accounting API's limit; the identity service's calls are not counted by it.
    counted=lambda endpoint: "/api.xro/" in endpoint,
    per_minute=60,
    targets="<= 1.1 calls per invoice, >= 90% of the per-minute limit used, no 429 after the first",
)

if __name__ == "__main__":
    main(XERO, arguments(__doc__ or ""))
