"""Helpers for the QuickBooks sandbox tests: a small QuickBooks Online client over any HTTP client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

CLIENT_ID = "flexbill-tests"


def body(content: Any) -> bytes:
    """JSON for a request, with decimals written exactly."""
    return json.dumps(content, default=str).encode()


def dec(value: object) -> Decimal:
    """A JSON number (parsed as float by httpx) back to the decimal the sandbox wrote."""
    return Decimal(str(value))


def intuit_signature(payload: bytes, verifier_token: str) -> str:
    """The ``intuit-signature`` a receiver expects, by Intuit's formula: base64(HMAC-SHA256(body, token))."""
    return base64.b64encode(hmac.new(verifier_token.encode(), payload, hashlib.sha256).digest()).decode()


def line(
    amount: str = "100.00",
    *,
    qty: str | None = "1",
    price: str | None = None,
    item: str = "2",
    tax: str | None = "2",
    **extra: Any,
) -> dict[str, Any]:
    """A SalesItemLineDetail line: ``qty`` x ``price`` (``price`` defaults to ``amount`` / ``qty``)."""
    detail: dict[str, Any] = {"ItemRef": {"value": item}}
    if qty is not None:
        detail["Qty"] = qty
        detail["UnitPrice"] = price if price is not None else str(Decimal(amount) / Decimal(qty))
    if tax is not None:
        detail["TaxCodeRef"] = {"value": tax}
    detail.update(extra.pop("detail", {}))
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail, **extra}


@dataclass
class QuickBooks:
    """A minimal QuickBooks Online client over an httpx client or a TestClient (the sandbox at ``base``)."""

    http: Any
    base: str = "/quickbooks"
    client_id: str = CLIENT_ID
    token: str = ""
    refresh_token: str = ""
    realm_id: str = ""

    def __post_init__(self) -> None:
        if not self.token:
            tokens = self.control("POST", "tokens", {"client_id": self.client_id}).json()
            self.token, self.refresh_token, self.realm_id = (
                tokens["access_token"],
                tokens["refresh_token"],
                tokens["realm_id"],
            )

    @property
    def api(self) -> str:
        return f"{self.base}/v3/company/{self.realm_id}"

    def call(
        self,
        method: str,
        resource: str,
        content: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        data = raw
        if content is not None:
            data = body(content)
            sent.setdefault("Content-Type", "application/json")
        query = {"minorversion": "75", **(params or {})}
        response: httpx.Response = self.http.request(
            method, f"{self.api}/{resource}", content=data, params=query, headers=sent
        )
        if response.status_code == 401 and "Token expired" in response.text and self.refresh_token:
            self.refresh()  # as a client library does when the access token's hour is up
            sent["Authorization"] = f"Bearer {self.token}"
            response = self.http.request(method, f"{self.api}/{resource}", content=data, params=query, headers=sent)
        return response

    def refresh(self) -> None:
        response = self.http.post(
            f"{self.base}/oauth2/v1/tokens/bearer",
            data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
            auth=(self.client_id, "secret"),
        )
        assert response.status_code == 200, response.text
        tokens = response.json()
        self.token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]

    def get(self, resource: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", resource, **kwargs)

    def post(self, resource: str, content: Any = None, **kwargs: Any) -> httpx.Response:
        return self.call("POST", resource, content, **kwargs)

    def query(self, text: str) -> httpx.Response:
        return self.get("query", params={"query": text})

    def control(self, method: str, path: str, content: Any = None) -> httpx.Response:
        response: httpx.Response = self.http.request(method, f"{self.base}/_sandbox/{path}", json=content)
        return response

    def ok(self, response: httpx.Response, name: str) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        entity: dict[str, Any] = response.json()[name]
        return entity

    # shortcuts that build the usual records -----------------------------------------------------------------

    def customer(self, name: str = "Acme Ltd", **fields: Any) -> dict[str, Any]:
        return self.ok(self.post("customer", {"DisplayName": name, **fields}), "Customer")

    def invoice(self, customer_id: str, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
        document = {"CustomerRef": {"value": customer_id}, "TxnDate": "2026-11-01", "Line": list(lines) or [line()]}
        return self.ok(self.post("invoice", {**document, **fields}), "Invoice")

    def credit_memo(self, customer_id: str, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
        document = {"CustomerRef": {"value": customer_id}, "TxnDate": "2026-11-02", "Line": list(lines) or [line()]}
        return self.ok(self.post("creditmemo", {**document, **fields}), "CreditMemo")

    def payment(self, customer_id: str, total: str, *links: tuple[str, str, str], **fields: Any) -> httpx.Response:
        """``links`` are (TxnType, TxnId, amount)."""
        lines = [{"Amount": amount, "LinkedTxn": [{"TxnId": id_, "TxnType": kind}]} for kind, id_, amount in links]
        return self.post("payment", {"CustomerRef": {"value": customer_id}, "TotalAmt": total, "Line": lines, **fields})


def fault_code(response: httpx.Response) -> str:
    """The code of the first error of a Fault answer."""
    code: str = response.json()["Fault"]["Error"][0]["code"]
    return code
