"""Xero's rate limits per tenant and per app: headers on every answer, 429s at the limit, windows in sandbox time."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.xero import Limits, XeroSandbox
from tests.sandbox.support import Xero


def test_every_answer_carries_the_remaining_calls(xero: Xero) -> None:
    first = xero.get("Organisation")
    assert (first.headers["x-daylimit-remaining"], first.headers["x-minlimit-remaining"]) == ("4999", "59")
    assert first.headers["x-appminlimit-remaining"] == "9999"
    rejected = xero.put("Invoices", {"Invoices": [{"Type": "ACCREC"}]})
    assert rejected.status_code == 400
    assert rejected.headers["x-minlimit-remaining"] == "58"
    missing = xero.get("Invoices/INV-0404")
    assert missing.status_code == 404
    assert missing.headers["x-minlimit-remaining"] == "57"


def test_the_minute_limit_with_time_running_sixty_times_faster(xero: Xero, sandbox: XeroSandbox) -> None:
    """At time_scale 60 a sandbox minute is a real second, so Retry-After is one real second."""
    sandbox.clock.set_time_scale(60)
    sandbox.limiter.limits = Limits(per_minute=3)
    statuses = [xero.get("Organisation").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = xero.get("Organisation")
    assert refused.status_code == 429
    assert refused.headers["x-rate-limit-problem"] == "minute"
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-minlimit-remaining"] == "0"
    sandbox.clock.advance(timedelta(seconds=61))
    assert xero.get("Organisation").status_code == 200
    state = xero.control("GET", "state").json()
    assert state["calls"]["throttled_by_problem"] == {"minute": 1}
    assert state["calls"]["by_endpoint"]["GET /api.xro/2.0/Organisation"] == 5


def test_retry_after_is_the_rest_of_the_window_in_real_seconds(
    xero: Xero, sandbox: XeroSandbox, clock: SandboxClock
) -> None:
    sandbox.limiter.limits = Limits(per_minute=2)
    xero.get("Organisation")
    clock.advance(timedelta(seconds=20))
    xero.get("Organisation")
    assert xero.get("Organisation").headers["retry-after"] == "40"  # real time runs as fast as sandbox time
    clock.set_time_scale(10)
    assert xero.get("Organisation").headers["retry-after"] == "4"
    clock.set_time_scale(1000)
    assert xero.get("Organisation").headers["retry-after"] == "1"  # never below one second


def test_the_day_limit(xero: Xero, sandbox: XeroSandbox, clock: SandboxClock) -> None:
    sandbox.limiter.limits = Limits(per_day=2)
    xero.get("Organisation")
    clock.advance(timedelta(hours=6))
    xero.get("Organisation")
    refused = xero.get("Organisation")
    assert (refused.status_code, refused.headers["x-rate-limit-problem"]) == (429, "day")
    assert refused.headers["retry-after"] == str(18 * 3600)
    clock.advance(timedelta(hours=18))
    assert xero.get("Organisation").status_code == 200


def test_the_app_minute_limit_spans_tenants_and_has_no_retry_after(xero: Xero, sandbox: XeroSandbox) -> None:
    sandbox.limiter.limits = Limits(app_per_minute=2)
    xero.get("Organisation")
    xero.get("Organisation")
    refused = xero.get("Organisation")
    assert (refused.status_code, refused.headers["x-rate-limit-problem"]) == (429, "appminute")
    assert "retry-after" not in refused.headers
    other_app = Xero(xero.http, client_id="another-app")
    assert other_app.get("Organisation").status_code == 200


def test_limits_can_be_set_through_the_control_endpoint(xero: Xero) -> None:
    assert xero.control("PUT", "limits", {"per_minute": 1}).json() == {
        "concurrent": 5,
        "per_minute": 1,
        "per_day": 5000,
        "app_per_minute": 10000,
    }
    xero.get("Organisation")
    assert xero.get("Organisation").status_code == 429


def test_more_than_five_calls_at_once_are_refused(remote: Xero, sandbox: XeroSandbox) -> None:
    """Calls held by a latency fault stay in flight; the sixth concurrent one is refused."""
    sandbox.faults.add("latency", path="/api.xro/2.0/Organisation", seconds=0.4, count=5)
    results: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=str(remote.http.base_url), timeout=5) as client:
            results.append(Xero(client, token=remote.token, tenant_id=remote.tenant_id).get("Organisation").status_code)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while sandbox.limiter.in_flight(sandbox.tenant_id) < 5:
        assert not results, "the five slow calls should be in flight together"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    refused = remote.get("Contacts")
    assert refused.status_code == 429
    assert refused.headers["x-rate-limit-problem"] == "concurrent"
    assert "retry-after" not in refused.headers
    for thread in threads:
        thread.join()
    assert results == [200] * 5
    assert remote.get("Contacts").status_code == 200


@pytest.mark.parametrize("header", ["Bearer nonsense", ""])
def test_unauthorised_calls_do_not_count(client: TestClient, header: str) -> None:
    response = client.get("/xero/api.xro/2.0/Organisation", headers={"Authorization": header})
    assert response.status_code == 401
    assert "x-minlimit-remaining" not in response.headers
