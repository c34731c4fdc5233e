"""The addresses flexbill puts in what it sends out: the member's "pay online" link of an invoice.

A pay link carries a signature of the invoice id made with flexbill's secret key, so it works from an email or a
PDF without signing in, and cannot be turned into the link of another invoice by changing the id.

>>> from flexbill.settings import Settings
>>> settings = Settings(public_url="https://billing.example.com/", secret_key="k" * 44)
>>> invoice_id = uuid.UUID("0190f0a4-0000-7000-8000-000000000001")
>>> url = pay_url(settings, invoice_id)
>>> url.startswith("https://billing.example.com/pay/0190f0a4-0000-7000-8000-000000000001?token=")
True
>>> is_pay_token(settings, invoice_id, url.rsplit("=", 1)[1])
True
>>> is_pay_token(settings, uuid.UUID("0190f0a4-0000-7000-8000-000000000002"), url.rsplit("=", 1)[1])
False
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from flexbill.keys import secret_key
from flexbill.settings import Settings


def public_base_url(settings: Settings) -> str:
    """Where members and outside systems reach flexbill: ``FLEXBILL_PUBLIC_URL``, else the address it serves on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def pay_token(settings: Settings, invoice_id: uuid.UUID) -> str:
    key = hashlib.sha256(b"flexbill pay link\0" + secret_key(settings)).digest()
    digest = hmac.new(key, str(invoice_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def is_pay_token(settings: Settings, invoice_id: uuid.UUID, token: str) -> bool:
    return hmac.compare_digest(pay_token(settings, invoice_id), token)


def pay_url(settings: Settings, invoice_id: uuid.UUID) -> str:
    """The page where the member pays one invoice online (Stripe Checkout for its balance)."""
    return f"{public_base_url(settings)}/pay/{invoice_id}?token={pay_token(settings, invoice_id)}"
