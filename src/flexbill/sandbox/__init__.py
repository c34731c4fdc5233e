"""Faithful local stand-ins of the systems flexbill talks to, served over real HTTP.

They are part of the product: operators rehearse a month against them before going live, ``flexbill demo``
runs on them, and the connectors' integration tests use them. One parent app mounts each sandbox under its
own prefix (``/xero``, ``/stripe`` and ``/quickbooks``); see :mod:`flexbill.sandbox.xero`,
:mod:`flexbill.sandbox.stripe` and :mod:`flexbill.sandbox.quickbooks`.
"""

from flexbill.sandbox.app import create_sandbox_app
from flexbill.sandbox.clock import SandboxClock
from flexbill.sandbox.server import RunningSandbox, running_sandbox, serve, start_sandbox

__all__ = ["RunningSandbox", "SandboxClock", "create_sandbox_app", "running_sandbox", "serve", "start_sandbox"]
