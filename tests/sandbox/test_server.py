"""Running the sandboxes: in a background thread for tests and the demo, and ``flexbill sandbox serve``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from flexbill.sandbox import create_sandbox_app, running_sandbox, start_sandbox
from flexbill.sandbox.cli import sandbox_app
from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.server import RunningSandbox
from tests.sandbox.support import START, Xero, line


def test_a_background_server_on_a_free_port() -> None:
    with running_sandbox(time_scale=60) as sandbox:
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        assert sandbox.xero_api_url == f"{sandbox.base_url}/xero/api.xro/2.0"
        assert httpx.get(f"{sandbox.base_url}/healthz").json()["status"] == "ok"
        assert sandbox.xero.clock.time_scale == 60
        assert sandbox.xero.public_url == sandbox.xero_url
        home = httpx.get(sandbox.base_url)
        assert "/xero/api.xro/2.0" in home.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sandbox.base_url}/healthz")


def test_two_servers_side_by_side_are_separate() -> None:
    first = start_sandbox()
    second = start_sandbox()
    try:
        assert first.port != second.port
        with httpx.Client(base_url=first.base_url) as http:
            Xero(http).contact("Only in the first")
        assert first.xero.org.counts()["contacts"] == 1
        assert second.xero.org.counts()["contacts"] == 0
        assert first.xero.tenant_id == second.xero.tenant_id  # the demo organisation's id is fixed
    finally:
        first.stop()
        second.stop()


def test_a_lost_answer_also_drops_the_connection_under_a_plain_uvicorn() -> None:
    """Served without the helper that keeps the server's send (e.g. embedded elsewhere), the transport is still
    found through the middleware that wraps ``send``."""
    app = create_sandbox_app(clock=SandboxClock(start=START, running=False))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    import threading

    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=5) as http:
            xero = Xero(http)
            xero.control("POST", "faults", {"kind": "lose_response", "path": "*/Contacts"})
            with pytest.raises(httpx.RemoteProtocolError):
                xero.put("Contacts", {"Name": "Acme Ltd"})
            assert len(xero.get("Contacts").json()["Contacts"]) == 1
    finally:
        server.should_exit = True
        thread.join(5)


def test_the_cli_help() -> None:
    result = CliRunner().invoke(sandbox_app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--host", "--time-scale", "--webhook-url", "--webhook-key", "--start"):
        assert option in result.stdout
    lonely = CliRunner().invoke(sandbox_app, ["serve", "--webhook-url", "http://x"])
    assert lonely.exit_code != 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_flexbill_sandbox_serve_runs_in_the_foreground(tmp_path: Path) -> None:
    port = _free_port()
    program = "from flexbill.sandbox.cli import sandbox_app; sandbox_app()"
    options = ["--port", str(port), "--time-scale", "60", "--start", "2026-11-02", "--log-level", "warning"]
    command = [sys.executable, "-c", program, "serve", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with httpx.Client(base_url=base, timeout=5) as http:
            xero = Xero(http)
            time_now = xero.control("GET", "time").json()
            assert time_now["time_scale"] == 60
            assert time_now["now"].startswith("2026-11-02")
            created = xero.put(
                "Invoices", {"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Acme"}, "LineItems": [line()]}]}
            )
            assert created.json()["Invoices"][0]["InvoiceNumber"] == "INV-0001"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_running_sandbox_object(server: RunningSandbox) -> None:
    assert server.xero_url.endswith("/xero")
    assert server.xero is server.app.state.xero
