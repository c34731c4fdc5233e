"""Xero's official OpenAPI spec (tests/reference/xero), loaded once, and a check of request bodies against the
request schema of the operation they are sent to."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "xero"
GOLDEN = Path(__file__).parent / "golden" / "xero"
SPEC_URI = "urn:xero:accounting"

RequestCheck = Callable[[str, str, object], None]


def golden(name: str) -> Any:
    """A golden file, its numbers read as Decimal (as the connector reads Xero's answers)."""
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"), parse_float=Decimal)


def golden_bytes(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def _number_format(instance: object) -> bool:
    """``format: double`` on an amount sent as an exact decimal: any JSON number is one."""
    return not isinstance(instance, bool)


@pytest.fixture(scope="session")
def xero_spec() -> dict[str, Any]:
    with (REFERENCE / "xero_accounting.yaml").open("rb") as file:
        spec: dict[str, Any] = yaml.load(file, Loader=yaml.CSafeLoader)
    return spec


@pytest.fixture(scope="session")
def check_request(xero_spec: dict[str, Any]) -> RequestCheck:
    """``check_request("put", "/Invoices", body)`` fails the test with every way ``body`` breaks the request schema
    of that operation (OAS30Validator), or sends a field the spec marks read-only (OAS30WriteValidator)."""
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(xero_spec, default_specification=DRAFT4)
    )
    formats = FormatChecker(formats=())
    formats.checkers = dict(oas30_format_checker.checkers)
    formats.checks("double")(_number_format)
    formats.checks("float")(_number_format)

    def check(method: str, path: str, body: object) -> None:
        instance = json.loads(body, parse_float=Decimal) if isinstance(body, bytes | str) else body
        operation = xero_spec["paths"][path][method.lower()]
        schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = {"$ref": SPEC_URI + schema_ref}
        problems = []
        for validator_class in (OAS30Validator, OAS30WriteValidator):
            validator = validator_class(schema, registry=registry, format_checker=formats)
            problems += [
                f"{validator_class.__name__}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(instance)
            ]
        assert not problems, f"{method.upper()} {path} does not match the spec:\n" + "\n".join(problems)

    return check
