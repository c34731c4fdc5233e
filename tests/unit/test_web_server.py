"""The listening socket of ``flexbill serve --workers``: its connections send each write at once."""

from __future__ import annotations

import socket

import pytest

from flexbill.web.server import listening_socket


def test_connections_of_the_listening_socket_name_tcp_and_have_nagle_off() -> None:
    server = listening_socket("127.0.0.1", 0)
    try:
        assert server.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY on connections only then
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert server.get_inheritable()  # each web process serves from it
        server.listen()
        with socket.create_connection(server.getsockname()[:2]) as _client:
            accepted, _ = server.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # inherited on Linux
    finally:
        server.close()


def test_a_port_in_use_is_refused() -> None:
    taken = listening_socket("127.0.0.1", 0)
    taken.listen()
    try:
        with pytest.raises(OSError, match="in use"):
            listening_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
