"""Checks before anything starts, each failing with one line that names the fix."""

from __future__ import annotations

import errno
import socket


class PreflightError(Exception):
    """A prerequisite is missing; the message is one line naming it and the fix."""


def ensure_port_free(port: int, owner: str, address: str = "127.0.0.1") -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise PreflightError(
                    f"cannot listen on {address}:{port} for {owner} ({error.strerror}): "
                    "set AIRFLOW_LISTEN_ADDRESS to an address of this machine, or leave it unset for 127.0.0.1"
                ) from None
            raise PreflightError(
                f"port {port} (needed by {owner}) is already in use: stop whatever listens there "
                f"(`ss -ltnp 'sport = :{port}'` shows it), run `make down` if it is an earlier stack, "
                "or give this stack other ports (README: Local stack settings)"
            ) from None
