"""How efficiently does a month reach QuickBooks Online?

    python benchmarks/quickbooks_sync.py --invoices 2000

bills a month of that many invoices (one customer and one membership each) with accounting sync on (auto) and the
PDFs fetched for sending, then lets the worker send everything to the QuickBooks sandbox at QuickBooks' limits
(500 calls a minute, 10 a second and 10 at once per company, 40 batch calls a minute) and prints:

- API calls per invoice (customers, invoices and PDFs together; the OAuth calls go to Intuit's token service,
  which has no such limit, and are not counted),
- the share of the per-minute limit used while syncing (calls made / calls the minutes allowed),
- the 429s received, and how many came after the first.

QuickBooks says nothing of its limits until it refuses, so the connector counts its own calls. The sandbox runs
at QuickBooks' own pace by default; ``--time-scale`` compresses its time, and the connector is given the same
compressed windows (QuickBooks' 500 calls a minute are faster than the sandbox makes PDFs on a small machine, so a
compressed run measures the sandbox rather than the limit). Targets: <= 1.1 calls per invoice with the PDF, no
429 after the first.

Runs on a fresh SQLite file by default, or on a PostgreSQL database whose name contains "bench" (emptied first).
"""

from __future__ import annotations

from books_sync import Books, arguments, main

from flexbill.accounting.connectors.quickbooks.client import QuickBooksConnector
from flexbill.accounting.ratelimit import QUICKBOOKS_LIMITS
from flexbill.accounting.registry import connectors

QUICKBOOKS = Books(
    name="QuickBooks",
    provider="quickbooks",
    root=lambda sandbox: sandbox.quickbooks_url,
    # The demo company's "Memberships" service, its 20% VAT code, and its bank account.
    mappings={"accounts": {"4000": "2"}, "tax_rates": {"VAT20": "2"}, "payment_account": "35"},
    state=lambda sandbox: sandbox.quickbooks.state(),
    counted=lambda endpoint: endpoint.split(" ", 1)[-1].startswith("/v3/company/"),
    per_minute=500,
    targets="<= 1.1 calls per invoice with the PDF, no 429 after the first",
)


def compress_limits(time_scale: float) -> None:
    """The connector counts QuickBooks' windows in the sandbox's compressed time."""
    connectors()["quickbooks"] = QuickBooksConnector(limits=QUICKBOOKS_LIMITS.in_time_scale(time_scale))


if __name__ == "__main__":
    main(QUICKBOOKS, arguments(__doc__ or "", time_scale=1.0), prepare=compress_limits)
