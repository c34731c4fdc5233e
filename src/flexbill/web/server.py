"""Serving the web app: in several processes, one per CPU, each building it from the ``FLEXBILL_*`` settings, and
with a heap the garbage collector does not walk again and again.

Python runs one thread of a process at a time, so a single process serves pages on one CPU however many a machine
has; uvicorn's ``--workers`` spawns more. Its own listening socket is made without naming its protocol, and asyncio
turns Nagle's algorithm off (``TCP_NODELAY``) only on connections of a socket that names TCP: on the others every
response whose headers and body go out as two small writes waits for the browser's delayed acknowledgement, some
40 ms a page on Linux. So the socket is made here, naming TCP and with ``TCP_NODELAY``, and handed to uvicorn.
"""

from __future__ import annotations

import gc
import socket

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from flexbill.web.app import app_from_settings

APP_FACTORY = "flexbill.web.server:served_app"


def settle_heap() -> None:
    """Once a server process holds what it keeps for good (modules, the app, its routes and templates), take those
    objects out of the garbage collector's sight. Its full collections walk every object the process holds, some
    200,000 there, which took over 100 ms each, every dozen pages or so, stopping every request the process was
    serving; afterwards they walk only what requests made since. (Frozen objects are never freed, which is why only
    a process that serves does this, and not each app a test builds.)"""
    gc.collect()
    gc.freeze()


def served_app() -> FastAPI:
    """The app of one of :func:`serve_in_processes`'s web processes."""
    app = app_from_settings()
    settle_heap()
    return app


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening: uvicorn starts that), which each web process
    inherits; its connections send every write at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve_in_processes(host: str, port: int, processes: int) -> None:
    """Serve on ``host:port`` from ``processes`` web processes, until stopped (Ctrl-C or SIGTERM). Each builds the
    app with :func:`flexbill.web.app.app_from_settings`, so the settings must come from the environment (or
    ``.env``), not from arguments of this process."""
    config = uvicorn.Config(APP_FACTORY, factory=True, host=host, port=port, workers=processes)
    sock = listening_socket(host, port)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
