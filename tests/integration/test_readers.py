"""On SQLite, reading never waits for a writer: a GET answers while a bill run holds the write lock."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from flexbill.bootstrap import Context


def test_a_read_answers_while_a_writer_holds_the_lock(ctx: Context, client: TestClient) -> None:
    with ctx.sessions() as writer, writer.begin():
        writer.connection()  # on SQLite: BEGIN IMMEDIATE, the write lock is now held until the block ends
        started = time.monotonic()
        response = client.get("/api/v1/locations")
        waited = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert waited < 5  # the busy timeout is 30 s: a read that queued behind the writer would wait for it
