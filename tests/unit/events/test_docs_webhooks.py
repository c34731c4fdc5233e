"""The signature check that docs/webhooks.md gives receivers to copy is run here, as printed, against deliveries
signed by flexbill: the document cannot drift from what flexbill sends."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flexbill.events.model import sign
from flexbill.events.model import verify as flexbills_verify

DOC = Path(__file__).parents[3] / "docs" / "webhooks.md"
SECRET = "whsec_documented"
BODY = b'{"id":"evt_01a21a3c9f2e7b4d8c0a5e6f7a8b9c0d","type":"invoice.paid","data":{}}'
T = 1797238802


def _documented() -> tuple[Callable[..., None], type[Exception]]:
    section = DOC.read_text().split("## Verifying the signature", 1)[1]
    [code] = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # the document's own example, as printed
    return namespace["verify"], namespace["SignatureError"]


def test_the_documented_verify_accepts_what_flexbill_signs() -> None:
    verify, _ = _documented()
    verify(BODY, sign(BODY, SECRET, T), SECRET, now=T + 299)


@pytest.mark.parametrize(
    ("body", "secret", "now"),
    [(BODY + b"\n", SECRET, T), (BODY, "whsec_other", T), (BODY, SECRET, T + 301), (BODY, SECRET, T - 301)],
)
def test_the_documented_verify_refuses_what_flexbills_own_refuses(body: bytes, secret: str, now: int) -> None:
    verify, error = _documented()
    header = sign(BODY, SECRET, T)
    with pytest.raises(error):
        verify(body, header, secret, now=now)
    with pytest.raises(ValueError, match="signature"):
        flexbills_verify(body, header, secret, now=now)
