"""What every connector's HTTP needs alike, so that each says only what is its system's own.

A request that gets no answer (a timeout, a refused or dropped connection) is ``Transient``; an answer whose shape
is not what the system sends is ``Transient`` too, saying what could not be read; and a refused OAuth 2.0 token
request is read from the error body every OAuth 2.0 server sends (RFC 6749 section 5.2).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx

from flexbill.accounting.ports import AuthExpired, ConnectorError, Rejected, Transient

# OAuth 2.0 errors after which only the operator's new consent helps: a refresh token used, expired or revoked,
# or an app whose credentials are refused.
RECONNECT_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


def send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    system: str,
    what: str,
    params: dict[str, str] | None = None,
    content: bytes | None = None,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """One request to ``system`` about ``what``; no answer at all is ``Transient``."""
    try:
        return http.request(
            method,
            url,
            params=params,
            content=content,
            data=data,
            headers=headers,
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
    except httpx.TimeoutException as error:
        raise Transient(f"{system} did not answer {what} in time ({type(error).__name__})") from error
    except httpx.RequestError as error:
        raise Transient(f"{system} could not be reached for {what}: {type(error).__name__}: {error}") from error


@contextmanager
def reading(system: str, what: str) -> Iterator[None]:
    """Whatever is wrong with an answer's shape becomes a ``Transient`` that says what could not be read."""
    try:
        yield
    except ValueError as error:  # a connector's own Malformed among them
        raise Transient(f"{system}'s answer about {what} could not be read: {error}") from None
    except (KeyError, TypeError, AttributeError, ArithmeticError) as error:
        raise Transient(f"{system}'s answer about {what} could not be read: {type(error).__name__}: {error}") from None


def token_refusal(response: httpx.Response, system: str, grant: str) -> ConnectorError:
    """A token request the server refused: ``AuthExpired`` when only connecting again helps (see
    ``RECONNECT_ERRORS``), ``Rejected`` for anything else in a 400, a request this code got wrong."""
    error, description = "", ""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or "")
    detail = f"{error}{': ' + description if description else ''}" or f"HTTP {response.status_code}"
    if response.status_code == 401 or error in RECONNECT_ERRORS:
        return AuthExpired(f"{system} refused the {grant}: {detail}")
    return Rejected(f"{system} refused the {grant}: {detail}")


def segment(external_id: str) -> str:
    """An id made safe to put in a URL's path."""
    return quote(external_id, safe="")
