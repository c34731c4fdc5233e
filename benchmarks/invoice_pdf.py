"""How long does flexbill take to render an invoice's PDF, and how big is it?

    python benchmarks/invoice_pdf.py --invoices 200

builds the sample coworking space of ``flexbill demo`` (two locations, GBP with prices excluding VAT and EUR with
prices including it, a few months of bill runs, most invoices paid, some overdue) on a fresh SQLite file, gives
both locations their invoice details and a logo, then renders the PDFs of that many invoices one after the other
(cycling over the space's invoices when asked for more) through ``invoice_pdf``, the function the API and the
emails call, and prints the time per PDF (median, 95th percentile, slowest) and the size per PDF. The first
rendering, which loads the fonts, is timed apart.
"""

from __future__ import annotations

import argparse
import io
import statistics
import struct
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select

from flexbill.bootstrap import build_context
from flexbill.catalog import service as catalog
from flexbill.catalog.store import LocationRow
from flexbill.clock import FixedClock
from flexbill.demo import build_demo_space
from flexbill.invoicing.documents import invoice_pdf
from flexbill.invoicing.store import InvoiceRow
from flexbill.migrations import upgrade
from flexbill.settings import Settings

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=200, help="how many PDFs to render")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            database_url=f"sqlite:///{Path(scratch) / 'bench.sqlite3'}",
            data_dir=Path(scratch),
            public_url="https://billing.example.com",
        )
        ctx = build_context(settings, clock=FixedClock(NOW))
        upgrade(ctx.engine)
        space = build_demo_space(ctx.sessions, ctx.clock)
        with ctx.sessions() as db, db.begin():
            for location in db.scalars(select(LocationRow)):
                catalog.update_location(db, location.id, _details(location.name))
                catalog.set_location_logo(db, location.id, _logo(), "image/png")
        with ctx.readers() as db:
            invoice_ids = list(db.scalars(select(InvoiceRow.id).order_by(InvoiceRow.id)))
        print(f"sample space: {space.customers} customers, {len(invoice_ids)} invoices")

        with ctx.readers() as db:
            started = time.perf_counter()
            invoice_pdf(db, settings, ctx.clock, invoice_ids[0])
            first = time.perf_counter() - started

            timings: list[float] = []
            sizes: list[int] = []
            pages: list[int] = []
            for index in range(args.invoices):
                started = time.perf_counter()
                pdf = invoice_pdf(db, settings, ctx.clock, invoice_ids[index % len(invoice_ids)])
                timings.append(time.perf_counter() - started)
                assert pdf.source == "flexbill"
                sizes.append(len(pdf.content))
                pages.append(len(PdfReader(io.BytesIO(pdf.content)).pages))

    milliseconds = sorted(t * 1000 for t in timings)
    print(f"PDFs rendered:   {len(timings)} (first one, loading the fonts: {first * 1000:.0f} ms, not counted)")
    print(f"ms per PDF:      p50 {_percentile(milliseconds, 50):.0f}, p95 {_percentile(milliseconds, 95):.0f}, "
          f"max {milliseconds[-1]:.0f}, mean {statistics.fmean(milliseconds):.0f}")  # fmt: skip
    print(f"bytes per PDF:   median {statistics.median(sizes):,.0f}, min {min(sizes):,}, max {max(sizes):,} "
          f"(pages: {min(pages)}-{max(pages)})")  # fmt: skip


def _percentile(ordered: list[float], percent: int) -> float:
    """Nearest-rank percentile of an ordered list."""
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def _details(name: str) -> catalog.LocationChanges:
    return catalog.LocationChanges(
        legal_name=f"{name} Coworking Ltd",
        address="12 Example Street\nSecond floor\nLondon SE1 2SZ\nUnited Kingdom",
        email="billing@example.com",
        phone="+44 20 7946 0000",
        tax_number="GB123456789",
        payment_details="Example Bank plc\nSort code 20-00-00, account 12345678\nIBAN GB29 NWBK 6016 1331 9268 19",
    )


def _logo(width: int = 480, height: int = 120) -> bytes:
    """A PNG logo of the size operators upload (a few kilobytes), drawn without an imaging library."""
    rows = b"".join(b"\x00" + bytes((20 + y, 80, 160 - y)) * width for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    main()
