"""``POST /webhooks/stripe``: the payment gateway's events, verified on the raw body before anything is read.

A bad or stale signature gets 400 and changes nothing. An event that cannot be taken in now (the gateway did not
answer when flexbill read the payment back) gets 500, and the gateway delivers it again later.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from flexbill.bootstrap import Context
from flexbill.payments.events import receive_event
from flexbill.payments.ports import BadSignature, GatewayError, MalformedEvent
from flexbill.web.api.deps import context

router = APIRouter(include_in_schema=False)
log = logging.getLogger("flexbill.webhooks")


@router.post("/webhooks/stripe")
async def receive_stripe(request: Request, ctx: Context = Depends(context)) -> JSONResponse:
    body = await request.body()
    signature = request.headers.get("stripe-signature", "")
    try:
        done = await run_in_threadpool(receive_event, ctx, "stripe", body, signature)
    except (BadSignature, MalformedEvent) as error:
        log.warning("a Stripe webhook was refused: %s", error.message)
        return JSONResponse({"error": {"message": error.message}}, status_code=400)
    except GatewayError as error:
        log.warning("a Stripe webhook could not be taken in now: %s", error.message)
        return JSONResponse({"error": {"message": error.message}}, status_code=500)
    return JSONResponse({"received": True, "result": done})
