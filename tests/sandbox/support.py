"""Helpers for the sandbox tests: a Xero client over any HTTP client, and validation against Xero's specs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "xero"
START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)  # a Monday; sandbox time in every test starts here
CLIENT_ID = "flexbill-tests"


@cache
def _spec(name: str) -> dict[str, Any]:
    with (REFERENCE / name).open("rb") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=yaml.CSafeLoader)
    return loaded


def accounting_spec() -> dict[str, Any]:
    """Xero's official Accounting API spec (loaded once per test session)."""
    return _spec("xero_accounting.yaml")


def _pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@cache
def _registry(name: str) -> Registry[Any]:
    specification = DRAFT202012 if name == "xero-webhooks.yaml" else DRAFT4
    resource: Resource[Any] = Resource.from_contents(_spec(name), specification)
    registry: Registry[Any] = Registry().with_resource(f"urn:xero:{name}", resource)
    return registry


def schema_for(path: str, method: str, status: int, *, spec: str = "xero_accounting.yaml") -> dict[str, Any]:
    """A ``$ref`` to the JSON schema of one response of one operation, inside the spec it comes from."""
    operation = _spec(spec)["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    if "$ref" in response:
        pointer = response["$ref"][1:] + _pointer("content", "application/json", "schema")
    else:
        pointer = _pointer(
            "paths", path, method.lower(), "responses", str(status), "content", "application/json", "schema"
        )
    return {"$ref": f"urn:xero:{spec}#{pointer}"}


def validate(response: httpx.Response, path: str, method: str, *, spec: str = "xero_accounting.yaml") -> Any:
    """Check a response's JSON body against the spec's schema for its status; return the body."""
    body = response.json()
    validator = OAS30ReadValidator(
        schema_for(path, method, response.status_code, spec=spec),
        registry=_registry(spec),
        format_checker=oas30_format_checker if spec == "xero_accounting.yaml" else None,
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    return body


def validate_schema(body: Any, name: str, *, spec: str = "xero-identity.yaml") -> None:
    """A body against one of a spec's component schemas (for answers the spec has no path for)."""
    validator = OAS30ReadValidator({"$ref": f"urn:xero:{spec}#/components/schemas/{name}"}, registry=_registry(spec))
    errors = list(validator.iter_errors(body))
    assert not errors, "\n".join(e.message for e in errors[:10])


def validate_webhook(payload: Mapping[str, Any], *, credit_note: bool = False) -> None:
    """A webhook payload against xero-webhooks.yaml (OpenAPI 3.1, so JSON Schema 2020-12)."""
    name = "CreditNoteWebhookEvent" if credit_note else "WebhookEvent"
    validator = Draft202012Validator(
        {"$ref": f"urn:xero:xero-webhooks.yaml#/components/schemas/{name}"}, registry=_registry("xero-webhooks.yaml")
    )
    errors = list(validator.iter_errors(payload))
    assert not errors, "\n".join(e.message for e in errors[:10])


def dec(value: object) -> Decimal:
    """A JSON number (parsed as float by httpx) back to the decimal the sandbox wrote."""
    return Decimal(str(value))


def body(content: Any) -> bytes:
    """JSON for a request, with decimals written exactly."""
    return json.dumps(content, default=str).encode()


@dataclass
class Xero:
    """A minimal Xero client over an httpx client or a TestClient (``base`` is where the sandbox is mounted)."""

    http: Any
    base: str = "/xero"
    client_id: str = CLIENT_ID
    token: str = ""
    refresh_token: str = ""
    tenant_id: str = ""

    def __post_init__(self) -> None:
        if not self.token:
            tokens = self.control("POST", "tokens", {"client_id": self.client_id}).json()
            self.token, self.refresh_token, self.tenant_id = (
                tokens["access_token"],
                tokens["refresh_token"],
                tokens["tenant_id"],
            )

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "xero-tenant-id": self.tenant_id,
            "Accept": "application/json",
        }
        headers.update(extra or {})
        return headers

    def call(
        self,
        method: str,
        resource: str,
        content: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        sent = {**self.headers(headers)}
        data = None
        if content is not None:
            data = body(content)
            sent["Content-Type"] = "application/json"
        response: httpx.Response = self.http.request(
            method, f"{self.base}/api.xro/2.0/{resource}", content=data, params=params, headers=sent
        )
        if response.status_code == 401 and "TokenExpired" in response.text and self.refresh_token:
            self.refresh()  # as a client library does when the access token's 30 minutes are up
            sent["Authorization"] = f"Bearer {self.token}"
            response = self.http.request(
                method, f"{self.base}/api.xro/2.0/{resource}", content=data, params=params, headers=sent
            )
        return response

    def refresh(self) -> None:
        response = self.http.post(
            f"{self.base}/identity/connect/token",
            data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
            auth=(self.client_id, "secret"),
        )
        assert response.status_code == 200, response.text
        tokens = response.json()
        self.token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]

    def get(self, resource: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", resource, **kwargs)

    def put(self, resource: str, content: Any, **kwargs: Any) -> httpx.Response:
        return self.call("PUT", resource, content, **kwargs)

    def post(self, resource: str, content: Any, **kwargs: Any) -> httpx.Response:
        return self.call("POST", resource, content, **kwargs)

    def control(self, method: str, path: str, content: Any = None) -> httpx.Response:
        response: httpx.Response = self.http.request(method, f"{self.base}/_sandbox/{path}", json=content)
        return response

    # shortcuts that build the usual records -----------------------------------------------------------------

    def contact(self, name: str = "Acme Ltd", **fields: Any) -> dict[str, Any]:
        response = self.put("Contacts", {"Contacts": [{"Name": name, **fields}]})
        assert response.status_code == 200, response.text
        contact: dict[str, Any] = response.json()["Contacts"][0]
        return contact

    def invoice(self, contact_id: str, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
        document = {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id},
            "Date": "2026-11-01",
            "DueDate": "2026-11-15",
            "Status": "AUTHORISED",
            "LineItems": list(lines) or [line()],
            **fields,
        }
        response = self.put("Invoices", {"Invoices": [document]})
        assert response.status_code == 200, response.text
        invoice: dict[str, Any] = response.json()["Invoices"][0]
        return invoice

    def credit_note(self, contact_id: str, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
        document = {
            "Type": "ACCRECCREDIT",
            "Contact": {"ContactID": contact_id},
            "Date": "2026-11-03",
            "Status": "AUTHORISED",
            "LineItems": list(lines) or [line()],
            **fields,
        }
        response = self.put("CreditNotes", {"CreditNotes": [document]})
        assert response.status_code == 200, response.text
        note: dict[str, Any] = response.json()["CreditNotes"][0]
        return note


def line(description: str = "Hot desk, November", amount: str = "100.00", **fields: Any) -> dict[str, Any]:
    return {
        "Description": description,
        "Quantity": "1",
        "UnitAmount": amount,
        "AccountCode": "200",
        "TaxType": "OUTPUT2",
        **fields,
    }


@dataclass
class Received:
    """A request the test receiver got."""

    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver over real HTTP: records what arrives and answers what it is told."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer in turn; then ``default``
    default: int = 200
    verify_with: str | None = None  # answer 200/401 by checking the signature with this key
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"expected {count} requests, got {len(self.requests)}"
            )
            return list(self.requests)


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    from flexbill.sandbox.xero.webhooks import sign

    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            data = self.rfile.read(length)
            target = state["receiver"]
            with target.arrived:
                target.requests.append(Received(data, {k.lower(): v for k, v in self.headers.items()}))
                if target.verify_with is not None:
                    good = sign(data, target.verify_with) == self.headers.get("x-xero-signature")
                    status = 200 if good else 401
                else:
                    status = target.answers.pop(0) if target.answers else target.default
                target.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/webhooks/xero", **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()
