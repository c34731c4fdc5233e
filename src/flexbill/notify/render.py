"""What each email says: the facts of the invoice (and payment) filled into its templates.

Each kind of email has three templates in ``templates/``: ``<kind>.subject.txt`` (one line), ``<kind>.txt`` and
``<kind>.html``, the last two extending ``base.txt`` and ``base.html``. HTML is autoescaped, so a customer named
``<b>Acme</b>`` is printed as written, never as markup; text and subject are not (they are not HTML).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from babel.dates import format_date
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from flexbill.formatting import LOCALE, format_money  # an email writes amounts as its PDF does
from flexbill.notify.model import EmailKind

METHOD_LABELS = {
    "bank_transfer": "bank transfer",
    "cash": "cash",
    "card": "card",
    "direct_debit": "direct debit",
    "other": "other",
}


def format_day(day: date) -> str:
    """A date as an email writes it.

    >>> format_day(date(2026, 12, 1))
    '1 December 2026'
    """
    return format_date(day, "d MMMM y", locale=LOCALE)


@dataclass(frozen=True, slots=True)
class Sender:
    """The location the email is from: its name, and how to reach it (printed at the foot of each email)."""

    name: str
    email: str | None = None
    phone: str | None = None
    address: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    number: str
    customer_name: str
    currency: str
    total: Decimal
    amount_due: Decimal
    issue_date: date
    due_date: date


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    amount: Decimal
    date: date
    method: str  # as the member reads it: "card", "bank transfer"
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Letter:
    """Everything the templates of one email may print."""

    kind: EmailKind
    sender: Sender
    invoice: InvoiceFacts
    pay_url: str | None = None  # None: nothing to pay online (paid, or not payable online)
    payment: PaymentFacts | None = None  # receipts
    amount: Decimal | None = None  # what a failed or unconfirmed charge was for (default: the amount due)
    reason: str | None = None  # why a charge failed, in the bank's or gateway's words
    next_attempt: date | None = None  # when a failed charge will be tried again, if it will
    days_overdue: int | None = None  # reminders
    attached: str | None = None  # the file name of the attached PDF


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(letter: Letter) -> Rendered:
    env = _environment()
    subject = subject_line(letter.kind, letter.sender.name, letter.invoice.number)
    values = {
        "subject": subject, "letter": letter, "sender": letter.sender, "invoice": letter.invoice,
        "payment": letter.payment,
    }  # fmt: skip
    return Rendered(
        subject=subject,
        text=env.get_template(f"{letter.kind}.txt").render(values),
        html=env.get_template(f"{letter.kind}.html").render(values),
    )


@dataclass(frozen=True, slots=True)
class SignInLink:
    """A member's one-time link to the members' portal: about no invoice, so not a ``Letter``."""

    sender: Sender
    email: str  # the address it signs in as
    url: str
    valid_minutes: int


def render_sign_in_link(link: SignInLink) -> Rendered:
    env = _environment()
    template = env.get_template("sign_in_link.subject.txt")
    subject = " ".join(template.render(sender_name=link.sender.name).split())
    values = {"subject": subject, "sender": link.sender, "link": link}
    return Rendered(
        subject=subject,
        text=env.get_template("sign_in_link.txt").render(values),
        html=env.get_template("sign_in_link.html").render(values),
    )


def subject_line(kind: EmailKind, sender_name: str, invoice_number: str) -> str:
    """The subject, on one line whatever the names hold (a header cannot carry line breaks).

    >>> subject_line(EmailKind.INVOICE, "Hive\\nLondon", "LON-0001")
    'Invoice LON-0001 from Hive London'
    """
    template = _environment().get_template(f"{kind}.subject.txt")
    return " ".join(template.render(sender_name=sender_name, number=invoice_number).split())


def subject_lines(kind: EmailKind, sender_name: str) -> Callable[[str], str]:
    """The subject of ``kind`` from ``sender_name`` for any invoice number, its template rendered once: a bill
    run makes a hundred thousand subjects, and a template's render costs as much as the rest of queueing one.
    Subject templates print the number as it is, which is what lets it be put in afterwards.

    >>> subject_lines(EmailKind.REMINDER, "Hive")("LON-0042") == subject_line(EmailKind.REMINDER, "Hive", "LON-0042")
    True
    """
    line = subject_line(kind, sender_name, _NUMBER)
    return lambda number: line.replace(_NUMBER, " ".join(number.split()))


_NUMBER = "\x00number\x00"  # a stand-in no sender name or number holds


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("flexbill.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the code; looking for changes costs a stat per email
    )
    env.filters["money"] = format_money
    env.filters["day"] = format_day
    return env
