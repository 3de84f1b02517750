"""Checks before anything starts, each failing with one line that names the fix."""

from __future__ import annotations

import errno
import socket


class PreflightError(Exception):
    """A prerequisite is missing; the message is one line naming it and the fix."""


def ensure_port_free(port: int, owner: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise PreflightError(
                f"port {port} (needed by {owner}) is already in use: stop whatever listens there "
                f"(`ss -ltnp 'sport = :{port}'` shows it) or run `make down` if it is an earlier stack"
            ) from None
