"""JSON for the sandboxes' answers, with decimals written exactly.

The sandboxes keep every amount as a :class:`~decimal.Decimal` and write it digit for digit, so a client that
parses numbers as decimals reads back exactly the cents the sandbox computed.

>>> dumps({"Total": Decimal("115.00"), "Qty": 2, "Name": "Café", "Ok": True, "None": None})
b'{"Total":115.00,"Qty":2,"Name":"Caf\\xc3\\xa9","Ok":true,"None":null}'
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from decimal import Decimal


def _write(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json.encoder.encode_basestring(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(format(value, "f"))
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(json.encoder.encode_basestring(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, uuid.UUID):
        out.append(f'"{value}"')
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: object) -> bytes:
    """JSON text with decimals written exactly (``Decimal('1.50')`` -> ``1.50``), never through a float."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")
