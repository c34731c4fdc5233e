"""``flexbill sandbox ...``: run the local stand-ins of Xero, Stripe and QuickBooks Online."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

sandbox_app = typer.Typer(help="Local stand-ins of the accounting systems and payment gateways.", no_args_is_help=True)


@sandbox_app.callback()
def _sandbox() -> None:
    """Local stand-ins of the accounting systems and payment gateways."""


@sandbox_app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    time_scale: Annotated[
        float, typer.Option(min=0.001, help="How much faster than real time sandbox time runs (60: a minute a second).")
    ] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="Sandbox time to start at (YYYY-MM-DD or an ISO 8601 instant); default now.")
    ] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Where the Xero sandbox POSTs its webhooks.")] = None,
    webhook_key: Annotated[str | None, typer.Option(help="The key that signs the webhooks.")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the Xero sandbox at http://HOST:PORT/xero (API base /xero/api.xro/2.0), the Stripe sandbox at
    http://HOST:PORT/stripe and the QuickBooks Online sandbox at http://HOST:PORT/quickbooks until interrupted."""
    from flexbill.sandbox.clock import SandboxClock
    from flexbill.sandbox.quickbooks.demo import REALM_ID
    from flexbill.sandbox.server import serve as run

    if (webhook_url is None) != (webhook_key is None):
        raise typer.BadParameter("give --webhook-url and --webhook-key together", param_hint="--webhook-key")
    began = _instant(start) if start else None
    clock = SandboxClock(start=began, time_scale=time_scale)
    typer.echo(f"Xero sandbox: http://{host}:{port}/xero/api.xro/2.0 (control and docs: /xero/_sandbox/docs)")
    typer.echo(f"Stripe sandbox: http://{host}:{port}/stripe (API /stripe/v1; control and docs: /stripe/_sandbox/docs)")
    typer.echo(
        f"QuickBooks sandbox: http://{host}:{port}/quickbooks (API /quickbooks/v3/company/{REALM_ID}; OAuth "
        "discovery /quickbooks/.well-known/openid_configuration; control and docs: /quickbooks/_sandbox/docs)"
    )
    run(host, port, clock=clock, webhook_url=webhook_url, webhook_key=webhook_key, log_level=log_level)


def _instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date or an ISO 8601 instant", param_hint="--start") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
