"""The viewer of the local mail capture at /mail: what flexbill would have emailed, read-only.

Mounted only while the capture is the mail server (no ``FLEXBILL_SMTP_HOST``), and only for signed-in staff: the
messages hold members' one-time sign-in links, which would let anyone who reads them into the portal as that
member. Everything a message holds is
treated as untrusted: headers and text are escaped, and the HTML part is shown in an iframe with an empty
``sandbox`` (no scripts, no forms, no same-origin access) under a policy that loads nothing from outside.
"""

from __future__ import annotations

from email.message import EmailMessage, Message
from html import escape
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import HTMLResponse, Response

from flexbill.bootstrap import Context
from flexbill.notify.capture import CapturedSummary, capture_directory, list_captured, read_captured, received_at
from flexbill.web.api.deps import context
from flexbill.web.security import current_staff

router = APIRouter(prefix="/mail", include_in_schema=False, dependencies=[Depends(current_staff)])

# The pages and the message in their iframe (which inherits this policy) may load nothing but inline styles and
# data: images: an email cannot run a script, nor tell a tracker it was opened.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; base-uri 'none'"
HEADERS = ("From", "To", "Reply-To", "Subject", "Date", "Message-ID")


def _folder(ctx: Context = Depends(context)) -> Path:
    return capture_directory(ctx.settings)


@router.get("")
def list_messages(folder: Path = Depends(_folder)) -> HTMLResponse:
    messages = list_captured(folder)
    rows = "".join(_row(summary) for summary in messages)
    body = (
        f"<h1>Captured mail</h1><p>{len(messages)} message{'s' * (len(messages) != 1)} caught by the local mail "
        "capture, newest first. Nothing here was delivered to anyone; set <code>FLEXBILL_SMTP_HOST</code> to "
        "send through a real mail server.</p>"
    )
    if messages:
        body += (
            "<table><thead><tr><th scope='col'>Received (UTC)</th><th scope='col'>To</th>"
            f"<th scope='col'>Subject</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return _page("Captured mail", body)


@router.get("/{name}")
def show_message(name: str, folder: Path = Depends(_folder)) -> HTMLResponse:
    message = _message(folder, name)
    headers = "".join(
        f"<tr><th scope='row'>{header}</th><td>{escape(str(message[header]))}</td></tr>"
        for header in HEADERS
        if message[header] is not None
    )
    body = (
        f"<p><a href='/mail'>All messages</a> · <a href='/mail/{name}/raw'>Download the .eml</a></p>"
        f"<h1>{escape(str(message['Subject'] or '(no subject)'))}</h1>"
        f"<p>Received {received_at(name):%Y-%m-%d %H:%M:%S} UTC</p><table>{headers}</table>"
    )
    html_part = message.get_body(preferencelist=("html",))
    if html_part is not None:
        # srcdoc is an attribute: escaped once for it; the sandboxed document is the message's own HTML.
        body += (
            "<h2>HTML</h2><iframe title='The HTML part of the message' sandbox='' "
            f'srcdoc="{escape(_text_of(html_part), quote=True)}"></iframe>'
        )
    text_part = message.get_body(preferencelist=("plain",))
    if text_part is not None:
        body += f"<h2>Text</h2><pre>{escape(_text_of(text_part))}</pre>"
    attachments = list(message.iter_attachments())
    if attachments:
        items = "".join(
            f"<li><a href='/mail/{name}/attachments/{index}'>{escape(part.get_filename() or f'attachment {index}')}"
            f"</a> ({escape(part.get_content_type())}, {len(part.get_payload(decode=True) or b'')} bytes)</li>"
            for index, part in enumerate(attachments)
        )
        body += f"<h2>Attachments</h2><ul>{items}</ul>"
    return _page(str(message["Subject"] or name), body)


@router.get("/{name}/attachments/{index}")
def download_attachment(name: str, index: int, folder: Path = Depends(_folder)) -> Response:
    attachments = list(_message(folder, name).iter_attachments())
    if not 0 <= index < len(attachments):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"message {name} has no attachment {index}")
    part = attachments[index]
    filename = _safe_filename(part.get_filename() or f"attachment-{index}")
    return Response(
        part.get_payload(decode=True) or b"",
        media_type=part.get_content_type(),
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff"},
    )


@router.get("/{name}/raw")
def download_raw(name: str, folder: Path = Depends(_folder)) -> Response:
    message = _message(folder, name)
    return Response(
        message.as_bytes(),
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
    )


def _message(folder: Path, name: str) -> EmailMessage:
    message = read_captured(folder, name)
    if message is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no captured message is named {name!r}")
    return message


def _text_of(part: Message) -> str:
    content = part.get_content() if isinstance(part, EmailMessage) else part.get_payload()
    return content if isinstance(content, str) else str(content)


def _safe_filename(filename: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename) or "attachment"


def _row(summary: CapturedSummary) -> str:
    return (
        f"<tr><td>{summary.received_at:%Y-%m-%d %H:%M:%S}</td><td>{escape(summary.to)}</td>"
        f"<td><a href='/mail/{summary.name}'>{escape(summary.subject or '(no subject)')}</a></td></tr>"
    )


def _page(title: str, body: str) -> HTMLResponse:
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)} · flexbill</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1f2328}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #d0d7de;vertical-align:top}"
    "iframe{width:100%;height:40rem;border:1px solid #d0d7de}"
    "pre{white-space:pre-wrap;background:#f6f8fa;padding:1rem;border:1px solid #d0d7de}"
)
