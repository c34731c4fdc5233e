"""The delivery task (``webhooks.deliver``): POST an event to an endpoint, signed, and log how it went.

One attempt per run of the task. A 2xx is a delivery; anything else (another status, a timeout, a refused
connection) is tried again through the worker's own retries (``RetryLater``: the worker never sleeps), on the
schedule of ``flexbill.events.model`` until a day has passed since the event (or the re-send), and then the
delivery has failed. Every attempt is a row of the delivery log.

Delivery is at least once: a worker that dies after the POST and before recording it posts again when its lease
expires. Receivers de-duplicate by the event id.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from flexbill import __version__
from flexbill.bootstrap import Context
from flexbill.events import service
from flexbill.events.model import delivered, excerpt, private_addresses, sign
from flexbill.tasks.service import Task
from flexbill.worker import Done, Failed, Handler, Outcome, RetryLater, TaskHandler, register

log = logging.getLogger("flexbill.events")

# Tasks per batch, posted one after the other to one endpoint (a batch shares a group: see service). An attempt
# takes at most CONNECT_TIMEOUT, then TOTAL_TIMEOUT for the answer to begin and one more read of it (25 s in the
# worst case), so a batch stays well inside the worker's five-minute lease.
BATCH = 5
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 10.0
READ_AT_MOST = 4096  # bytes of an answer read (for the log's excerpt); the rest is not waited for
USER_AGENT = f"flexbill/{__version__}"


@register
def _deliveries(_ctx: Context) -> TaskHandler:
    return Handler(service.DELIVER_TASK, BATCH, deliver_events)


def deliver_events(ctx: Context, tasks: Sequence[Task]) -> dict[uuid.UUID, Outcome]:
    outcomes: dict[uuid.UUID, Outcome] = {}
    with http_client() as http:
        for task in tasks:
            outcomes[task.id] = deliver_once(ctx, http, task)
    return outcomes


def http_client() -> httpx.Client:
    """Redirects are not followed: an endpoint answers for itself (a 3xx is not a delivery)."""
    timeout = httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)
    return httpx.Client(timeout=timeout, follow_redirects=False, headers={"user-agent": USER_AGENT})


def deliver_once(ctx: Context, http: httpx.Client, task: Task) -> Outcome:
    delivery_id = uuid.UUID(task.payload["delivery_id"])
    since = datetime.fromisoformat(task.payload["since"])
    with ctx.sessions() as db, db.begin():
        send = service.prepare_send(db, ctx.settings, ctx.clock.now(), delivery_id)
    if isinstance(send, str):
        log.info("webhook delivery %s not sent: %s", delivery_id, send)
        return Done()
    attempted_at = ctx.clock.now()
    refused = None if ctx.settings.webhooks_allow_private else refuse_private_destination(send.url)
    status_code: int | None
    error: str | None
    if refused is not None:
        status_code, error, answer, duration_ms = None, refused, "", 0
    else:
        # The receiver checks the signature's time against its own clock: the wall clock, never the business
        # clock (which a rehearsal sets to another day).
        status_code, error, answer, duration_ms = post(http, send, int(time.time()))
    with ctx.sessions() as db, db.begin():
        result = service.record_attempt(
            db,
            delivery_id,
            attempted_at=attempted_at,
            finished_at=ctx.clock.now(),
            since=since,
            run_attempt=task.attempts,
            status_code=status_code,
            error=error,
            excerpt=answer,
            duration_ms=duration_ms,
        )
    message = result.error or "not delivered"
    if result.state == "retry" and result.retry_at is not None:
        return RetryLater(max(result.retry_at - ctx.clock.now(), timedelta(0)), message)
    if result.state == "failed":
        return Failed(message)
    return Done()  # delivered, or ended by something else meanwhile


def refuse_private_destination(url: str) -> str | None:
    """Why events may not go to ``url`` (its host resolves to a private, loopback or link-local address), or None.
    A host that does not resolve is left to the POST, which reports the network error."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return None
    private = private_addresses(sorted(found))
    if not private:
        return None
    return (
        f"not sent: {host} is {', '.join(private)}, a private or local address; flexbill sends events only to "
        "public addresses unless FLEXBILL_WEBHOOKS_ALLOW_PRIVATE is true"
    )


def post(http: httpx.Client, send: service.Send, timestamp: int) -> tuple[int | None, str | None, str, int]:
    """POST the event once: (status code or None, error or None, start of the answer, milliseconds taken). A
    2xx has no error. Of the answer, at most ``READ_AT_MOST`` bytes are read, and reading stops with an error once
    ``TOTAL_TIMEOUT`` has passed since the request began."""
    headers = {
        "content-type": "application/json",
        "flexbill-signature": sign(send.body, send.secret, timestamp),
        "flexbill-event-id": send.event_id,
        "flexbill-event-type": send.event_type,
    }
    started = time.monotonic()
    try:
        with http.stream("POST", send.url, content=send.body, headers=headers) as response:
            content = _read_some(response, started)
            status_code: int | None = response.status_code
    except httpx.TimeoutException as problem:
        return None, f"timed out: {problem or type(problem).__name__}", "", _ms_since(started)
    except httpx.HTTPError as problem:
        return None, f"{type(problem).__name__}: {problem}", "", _ms_since(started)
    except _TooSlow:
        return None, f"the answer took longer than {TOTAL_TIMEOUT:.0f} s", "", _ms_since(started)
    error = None if delivered(status_code) else f"the endpoint answered {status_code}"
    return status_code, error, excerpt(content), _ms_since(started)


class _TooSlow(Exception):
    pass


def _read_some(response: httpx.Response, started: float) -> bytes:
    content = b""
    for chunk in response.iter_bytes():
        content += chunk
        if len(content) >= READ_AT_MOST:
            break
        if time.monotonic() - started > TOTAL_TIMEOUT:
            raise _TooSlow
    return content[:READ_AT_MOST]


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
