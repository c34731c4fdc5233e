"""Throttles per company on sandbox time: per minute, per second, concurrent and batches per minute; 429 with
Fault 3001 in JSON or in QuickBooks' historical XML, and no Retry-After or remaining-count headers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx

from flexbill.sandbox import SandboxClock
from flexbill.sandbox.quickbooks import Limits
from tests.sandbox.quickbooks.support import QuickBooks

QBO_LIMITS = {"per_minute": 500, "per_second": 10, "concurrent": 10, "batch_per_minute": 40, "throttle_body": "json"}


def info(qbo: QuickBooks) -> httpx.Response:
    return qbo.get(f"companyinfo/{qbo.realm_id}")


def assert_throttled_json(response: httpx.Response) -> None:
    assert response.status_code == 429
    body = response.json()
    error = body["Fault"]["Error"][0]
    assert error["code"] == "3001"
    assert error["Message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    assert error["Detail"] == "The request limit was reached.  Try again later"
    assert "retry-after" not in response.headers
    assert not [name for name in response.headers if "remaining" in name.lower() or "ratelimit" in name.lower()]


def test_quickbooks_limits_are_the_defaults() -> None:
    assert Limits().as_dict() == QBO_LIMITS


def test_ten_a_second(qbo: QuickBooks, clock: SandboxClock) -> None:
    assert qbo.control("PUT", "limits", QBO_LIMITS).json() == QBO_LIMITS
    for _ in range(10):
        assert info(qbo).status_code == 200
    assert_throttled_json(info(qbo))
    clock.advance(timedelta(seconds=1))
    assert info(qbo).status_code == 200
    calls = qbo.control("GET", "state").json()["calls"]
    assert calls["throttled_by_limit"] == {"per_second": 1}
    assert calls["by_status"]["429"] == 1


def test_per_minute(qbo: QuickBooks, clock: SandboxClock) -> None:
    qbo.control("PUT", "limits", {"per_minute": 25, "per_second": 10})
    for n in range(25):
        if n and n % 10 == 0:
            clock.advance(timedelta(seconds=1))
        assert info(qbo).status_code == 200, n
    clock.advance(timedelta(seconds=1))
    assert_throttled_json(info(qbo))
    clock.advance(timedelta(seconds=58))
    assert info(qbo).status_code == 200


def test_batches_per_minute(qbo: QuickBooks, clock: SandboxClock) -> None:
    qbo.control("PUT", "limits", {"batch_per_minute": 2})
    batch = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Customer"}]}
    assert qbo.post("batch", batch).status_code == 200
    assert qbo.post("batch", batch).status_code == 200
    assert_throttled_json(qbo.post("batch", batch))
    assert info(qbo).status_code == 200  # other calls go on
    clock.advance(timedelta(minutes=1))
    assert qbo.post("batch", batch).status_code == 200


def test_concurrent_calls(qbo_remote: QuickBooks) -> None:
    qbo_remote.control("PUT", "limits", {"concurrent": 2})
    qbo_remote.control("POST", "faults", {"kind": "latency", "seconds": 0.6, "count": 2, "path": "*/companyinfo/*"})
    statuses: list[int] = []

    def slow() -> None:
        with httpx.Client(base_url=str(qbo_remote.http.base_url), timeout=5) as own:
            other = QuickBooks(own, token=qbo_remote.token, realm_id=qbo_remote.realm_id)
            statuses.append(info(other).status_code)

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for thread in threads:
        thread.start()
    for _ in range(100):  # wait until both slow calls hold their slots
        if (
            qbo_remote.control("GET", "state")
            .json()["rate_limits"]["realms"]
            .get(qbo_remote.realm_id, {})
            .get("in_flight")
            == 2
        ):
            break
        time.sleep(0.01)
    assert_throttled_json(info(qbo_remote))
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]
    assert info(qbo_remote).status_code == 200


def test_the_historical_xml_body(qbo: QuickBooks) -> None:
    qbo.control("PUT", "limits", {"per_second": 1, "throttle_body": "xml"})
    assert info(qbo).status_code == 200
    throttled = info(qbo)
    assert throttled.status_code == 429
    assert throttled.headers["content-type"].startswith("application/xml")
    text = throttled.text
    assert "<IntuitResponse" in text
    assert '<Fault type="SERVICE"><Error code="3001">' in text
    assert "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>" in text
    assert "<Detail>The request limit was reached.  Try again later</Detail>" in text
    assert "retry-after" not in throttled.headers


def test_control_endpoints_are_never_throttled(qbo: QuickBooks) -> None:
    qbo.control("PUT", "limits", {"per_second": 1})
    info(qbo)
    for _ in range(5):
        assert qbo.control("GET", "state").status_code == 200
    assert qbo.control("GET", "limits").json()["per_second"] == 1
