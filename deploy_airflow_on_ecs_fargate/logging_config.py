"""Logging for every Airflow process: component logs on stdout (what ECS ships to CloudWatch
Logs) with secrets masked; task logs through Airflow's task handler, which the UI reads (from
the worker's log server, or from remote storage when ``[logging] remote_logging`` is on).

Why more than Airflow's default: in Airflow 3.3 structlog replaces the root handler, and with it
the masking filter of the default logging config, so component logs reach stdout unmasked (a
secret logged by the scheduler is printed in clear). The one place every component line passes
is the process's stdout/stderr, so this module wraps those streams with Airflow's own masker.
It also registers the raw secrets the entrypoint receives (database password, Fernet seed, admin
password); Airflow already registers the sensitive configuration values it knows.
"""

from __future__ import annotations

import io
import os
import sys
from copy import deepcopy

# Airflow's two maskers, as its own conf.mask_secrets() uses them: the core one (internal module,
# hence the exact Airflow pin) and the task SDK's one (task processes and their supervisor).
from airflow._shared.secrets_masker import mask_secret as mask_secret_core
from airflow._shared.secrets_masker import redact
from airflow.config_templates.airflow_local_settings import DEFAULT_LOGGING_CONFIG
from airflow.sdk.log import mask_secret as mask_secret_sdk

RAW_SECRET_VARIABLES = ("AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_SEED", "AIRFLOW_ADMIN_PASSWORD")


class _WrappedStream:
    """What both masked streams pass straight to the stream they wrap."""

    def __init__(self, stream):
        self.wrapped = stream

    def flush(self) -> None:
        self.wrapped.flush()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def writable(self) -> bool:
        return True


class MaskedBinaryStream(_WrappedStream, io.BufferedIOBase):
    """The bytes side (``sys.stdout.buffer``), which the Celery worker hands to structlog."""

    def write(self, data) -> int:
        # surrogateescape round-trips any byte sequence, even a chunk ending mid-character.
        text = bytes(data).decode("utf-8", "surrogateescape")
        self.wrapped.write(str(redact(text)).encode("utf-8", "surrogateescape"))
        return len(data)


class MaskedStream(_WrappedStream, io.TextIOBase):
    """A text stream that masks every registered secret in what is written to it.

    Log lines are written whole, so a secret is never split across two writes in practice."""

    def __init__(self, stream):
        super().__init__(stream)
        self.buffer = MaskedBinaryStream(stream.buffer) if hasattr(stream, "buffer") else None

    def write(self, text: str) -> int:
        self.wrapped.write(redact(text))
        return len(text)

    # Read-only views of the wrapped stream's own (typeshed declares them plain attributes).
    @property
    def encoding(self):  # type: ignore[override]
        return self.wrapped.encoding

    @property
    def errors(self):  # type: ignore[override]
        return self.wrapped.errors


def mask_raw_secrets(environ=os.environ) -> None:
    for name in RAW_SECRET_VARIABLES:
        value = environ.get(name)
        if value:
            mask_secret_core(value)
            mask_secret_sdk(value)


def mask_standard_streams() -> None:
    """Idempotent: wrap stdout and stderr once per process."""
    if not isinstance(sys.stdout, MaskedStream):
        sys.stdout = MaskedStream(sys.stdout)
    if not isinstance(sys.stderr, MaskedStream):
        sys.stderr = MaskedStream(sys.stderr)


LOGGING_CONFIG = deepcopy(DEFAULT_LOGGING_CONFIG)
mask_raw_secrets()
mask_standard_streams()
