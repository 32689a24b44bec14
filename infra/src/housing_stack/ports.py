"""Free loopback ports for servers started by tests."""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack

#: Ports are drawn from below Linux's ephemeral range (32768-60999): the kernel never hands these out
#: for bind(0) or outgoing connections, so a port chosen now is still free when a server binds it
#: minutes later (a stack's last component starts long after its ports are chosen), unless another test
#: session happens to draw the same one. The stack's fixed ports (.env.example) all lie below 20000.
PORT_RANGE = range(20000, 32768)


def _server_socket() -> socket.socket:
    """A TCP socket set up like the servers' (SO_REUSEADDR): a port whose last connections linger in
    TIME_WAIT after a server stopped counts as free, as it is for the next server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now (all held open while choosing)."""
    chooser = random.Random()  # own instance: tests that seed the global generator must not collide
    with ExitStack() as stack:
        ports: list[int] = []
        for port in chooser.sample(PORT_RANGE, len(PORT_RANGE)):
            sock = stack.enter_context(_server_socket())
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
            if len(ports) == count:
                return ports
    raise OSError(
        f"fewer than {count} free TCP ports in {PORT_RANGE.start}-{PORT_RANGE.stop - 1} on 127.0.0.1"
    )


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` (and it can be bound)."""
    with _server_socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
