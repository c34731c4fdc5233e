"""``GET`` and ``PUT /_sandbox/time``: reading and moving the clock the sandboxes of a server share, from each
sandbox's control endpoints (the Xero and the Stripe sandboxes answer the same, about the same clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from flexbill.sandbox.clock import SandboxClock


class TimeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_scale: float | None = Field(default=None, gt=0)
    advance_seconds: float | None = Field(default=None, ge=0)
    now: datetime | None = None
    running: bool | None = None


def clock_state(clock: SandboxClock) -> dict[str, Any]:
    return {"now": clock.now().isoformat(), "time_scale": clock.time_scale, "running": clock.running}


def time_router(clock_of: Callable[[Request], SandboxClock]) -> APIRouter:
    router = APIRouter()

    @router.get("/time")
    def get_time(request: Request) -> dict[str, Any]:
        return clock_state(clock_of(request))

    @router.put("/time")
    def put_time(request: Request, body: TimeRequest) -> dict[str, Any]:
        """Sandbox time (shared with the other sandboxes of the server): a new instant, a jump, a speed, a stop."""
        clock = clock_of(request)
        if body.now is not None:
            clock.set(body.now if body.now.tzinfo else body.now.astimezone())
        if body.advance_seconds:
            clock.advance(timedelta(seconds=body.advance_seconds))
        if body.time_scale is not None:
            clock.set_time_scale(body.time_scale)
        if body.running is not None:
            clock.set_running(body.running)
        return clock_state(clock)

    return router
