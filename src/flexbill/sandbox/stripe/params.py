"""Stripe's request parameters: form-encoded with nested brackets, read with Stripe's validation messages.

``metadata[invoice_id]=42`` is a hash, ``expand[]=latest_charge`` appends to a list, and
``line_items[0][price_data][unit_amount]=1200`` is an indexed list of hashes (the official SDKs index every
list, ``expand[0]=...``). Every value arrives as a string; a handler reads each parameter as the type it needs,
and a parameter it does not read is refused, as Stripe refuses unknown parameters.

>>> params = parse_form(b"amount=1200&metadata[invoice_id]=42&expand[]=latest_charge&off_session=true")
>>> params.raw
{'amount': '1200', 'metadata': {'invoice_id': '42'}, 'expand': ['latest_charge'], 'off_session': 'true'}
>>> (params.integer("amount"), params.boolean("off_session"), params.metadata("metadata"), params.strings("expand"))
(1200, True, {'invoice_id': '42'}, ['latest_charge'])
>>> parse_form(b"line_items[0][quantity]=2&line_items[0][price_data][currency]=gbp").hashes("line_items")[0].raw
{'quantity': '2', 'price_data': {'currency': 'gbp'}}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

from flexbill.sandbox.stripe.errors import invalid_request

Value = str | dict[str, "Value"] | list["Value"]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_TRUE = ("true",)
_FALSE = ("false",)
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


def _conflict(name: str) -> Exception:
    return invalid_request(f"Invalid request: the parameter {name} is given both as a value and as a hash or list.")


def _insert(tree: dict[str, Value], name: str, parts: list[str], value: str) -> None:
    """Put one ``name[part][part]=value`` pair into the tree; ``[]`` (append to a list) may only come last."""
    node: dict[str, Value] = tree
    key = name
    path = name
    for index, part in enumerate(parts):
        if part == "":
            if index != len(parts) - 1:
                raise invalid_request(f"Invalid parameter name: {path}[] may only end a parameter name", param=path)
            items = node.setdefault(key, [])
            if not isinstance(items, list):
                raise _conflict(path)
            items.append(value)
            return
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise _conflict(path)
        node, key = child, part
        path += f"[{part}]"
    if isinstance(node.get(key), dict | list):
        raise _conflict(path)
    node[key] = value


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> Params:
    tree: dict[str, Value] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        if match is None:
            raise invalid_request(f"Invalid parameter name: {raw_key}", param=raw_key)
        _insert(tree, match.group(1), _PART.findall(match.group(2)), value)
    return Params(tree)


def form_pairs(body: bytes | str) -> list[tuple[str, str]]:
    """The name-value pairs of ``application/x-www-form-urlencoded`` text (a POST body or a query string)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise invalid_request("Invalid request: the parameters are not valid UTF-8.") from None
    return parse_qsl(text, keep_blank_values=True)


def parse_form(body: bytes | str) -> Params:
    return parse_pairs(form_pairs(body))


def _child_name(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


class Params:
    """One level of parameters; nested hashes are read through :meth:`hash` (their names keep the brackets)."""

    def __init__(self, raw: dict[str, Value], prefix: str = "") -> None:
        self.raw = raw
        self.prefix = prefix

    def name(self, key: str) -> str:
        """The full parameter name, as Stripe reports it (``automatic_payment_methods[enabled]``)."""
        return _child_name(self.prefix, key)

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def only(self, *allowed: str) -> None:
        """Refuse any parameter not in ``allowed`` (``expand`` is always allowed at the top level)."""
        permitted = set(allowed) | ({"expand"} if not self.prefix else set())
        for key in self.raw:
            if key not in permitted:
                raise invalid_request(f"Received unknown parameter: {self.name(key)}", param=self.name(key))

    def _text(self, key: str, *, required: bool) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise invalid_request(f"Missing required param: {self.name(key)}.", param=self.name(key))
            return None
        if not isinstance(value, str):
            raise invalid_request(f"Invalid string: {self.name(key)} must be a string, not a hash or a list.")
        return value

    def string(self, key: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        """A string parameter; an empty string means "unset" (``None``), as in Stripe."""
        value = self._text(key, required=required)
        if value is None or value == "":
            if required:
                raise invalid_request(f"Missing required param: {self.name(key)}.", param=self.name(key))
            return None
        if len(value) > max_length:
            raise invalid_request(
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters", param=self.name(key)
            )
        return value

    def required_string(self, key: str, *, max_length: int = 5000) -> str:
        value = self.string(key, required=True, max_length=max_length)
        assert value is not None  # required=True raised otherwise
        return value

    def integer(self, key: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = self._text(key, required=required)
        if value is None or (value == "" and not required):
            return None
        if not re.fullmatch(r"-?\d{1,18}", value):
            raise invalid_request(f"Invalid integer: {value}", param=self.name(key))
        number = int(value)
        if minimum is not None and number < minimum:
            raise invalid_request(
                f"This value must be greater than or equal to {minimum}.",
                param=self.name(key),
                code="parameter_invalid_integer",
            )
        return number

    def required_integer(self, key: str, *, minimum: int | None = None) -> int:
        value = self.integer(key, required=True, minimum=minimum)
        assert value is not None  # required=True raised otherwise
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._text(key, required=False)
        if value is None:
            return None
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise invalid_request(f"Invalid boolean: {value}", param=self.name(key))

    def choice(self, key: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.string(key, required=required)
        if value is not None and value not in choices:
            allowed = ", ".join(f"`{choice}`" for choice in choices)
            raise invalid_request(f"Invalid {self.name(key)}: must be one of {allowed}", param=self.name(key))
        return value

    def hash(self, key: str) -> Params | None:
        """A nested hash (``automatic_payment_methods[enabled]=true``), or ``None`` when not given."""
        value = self.raw.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid hash: {self.name(key)} must be a hash", param=self.name(key))
        return Params(value, self.name(key))

    def _items(self, key: str) -> list[Value] | None:
        value = self.raw.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, list):
            return value
        if isinstance(value, dict) and all(index.isdigit() for index in value):
            return [value[index] for index in sorted(value, key=int)]
        raise invalid_request(f"Invalid array: {self.name(key)} must be a list", param=self.name(key))

    def strings(self, key: str) -> list[str] | None:
        items = self._items(key)
        if items is None:
            return None
        if not all(isinstance(item, str) for item in items):
            raise invalid_request(f"Invalid array: {self.name(key)} must be a list of strings", param=self.name(key))
        return [item for item in items if isinstance(item, str)]

    def hashes(self, key: str) -> list[Params]:
        """A list of hashes (``line_items[0][quantity]=1``); an empty list when not given."""
        items = self._items(key) or []
        result: list[Params] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise invalid_request(f"Invalid hash: {self.name(key)}[{index}] must be a hash")
            result.append(Params(item, f"{self.name(key)}[{index}]"))
        return result

    def metadata(self, key: str = "metadata") -> dict[str, str | None] | None:
        """A metadata hash; a key with an empty value means "remove it" on update, and ``metadata=`` clears all
        (returned as ``{}``). ``None`` when not given."""
        value = self.raw.get(key)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid hash: {self.name(key)} must be a hash", param=self.name(key))
        if len(value) > MAX_METADATA_KEYS:
            raise invalid_request(
                f"Invalid {self.name(key)}: you can specify up to {MAX_METADATA_KEYS} keys", param=self.name(key)
            )
        result: dict[str, str | None] = {}
        for name, item in value.items():
            if not isinstance(item, str):
                raise invalid_request(
                    f"Invalid {self.name(key)}[{name}]: metadata values must be strings",
                    param=f"{self.name(key)}[{name}]",
                )
            if len(name) > MAX_METADATA_KEY_LENGTH:
                raise invalid_request(
                    f"Metadata keys can have up to {MAX_METADATA_KEY_LENGTH} characters; {name!r} has {len(name)}",
                    param=f"{self.name(key)}[{name}]",
                )
            if len(item) > MAX_METADATA_VALUE_LENGTH:
                raise invalid_request(
                    f"Metadata values can have up to {MAX_METADATA_VALUE_LENGTH} characters",
                    param=f"{self.name(key)}[{name}]",
                )
            result[name] = item or None
        return result
