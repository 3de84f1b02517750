"""Waiting for the metadata database before a component starts."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg2

# Our own advisory lock id (Airflow's internal locks use small integers).
MIGRATION_LOCK_ID = zlib.crc32(b"deploy_airflow_on_ecs_fargate.migrate")

# Per attempt: an unreachable host (dropped packets) must not eat the whole wait in one try.
CONNECT_TIMEOUT_SECONDS = 3


class DatabaseUnavailable(Exception):
    """The database did not answer, or refused what was asked; the message is one line."""


def first_line(error: BaseException) -> str:
    """A database error's first line (psycopg2's messages run over several), or its type's name."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def libpq_url(sqlalchemy_url: str) -> str:
    """psycopg2 takes the SQLAlchemy URL without its ``+driver`` part."""
    scheme, rest = sqlalchemy_url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def describe(sqlalchemy_url: str) -> str:
    """host:port/name, without credentials, for messages."""
    parts = urlsplit(sqlalchemy_url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


def wait_for_database(sqlalchemy_url: str, *, timeout: float, interval: float = 1.0, on_retry=None) -> float:
    """Connect until it works; return the seconds waited or raise DatabaseUnavailable."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            psycopg2.connect(libpq_url(sqlalchemy_url), connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
            return time.monotonic() - started
        except psycopg2.OperationalError as error:
            reason = (str(error).strip().splitlines() or ["no answer"])[-1]
            if time.monotonic() + interval > deadline:
                raise DatabaseUnavailable(
                    f"metadata database {describe(sqlalchemy_url)} not reachable after {timeout:.0f} s "
                    f"({reason}): check AIRFLOW_DB_HOST/PORT and that the database accepts connections "
                    f"from this task"
                ) from None
            if on_retry:
                on_retry(reason)
            time.sleep(interval)


@contextmanager
def migration_lock(sqlalchemy_url: str, *, on_wait=None) -> Iterator[None]:
    """Hold a database-wide lock for the whole migration step.

    `airflow db migrate` locks its own tables, but the FAB provider creates its tables outside
    that lock: two first-time migrations at once fail on a duplicate sequence. The lock belongs to
    this connection's session, so it is released even if the process dies."""
    try:
        connection = psycopg2.connect(libpq_url(sqlalchemy_url), connect_timeout=CONNECT_TIMEOUT_SECONDS)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
            locked = cursor.fetchone()
            if not (locked and locked[0]):
                if on_wait:
                    on_wait()
                cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
    except psycopg2.Error as error:
        reason = first_line(error)
        raise DatabaseUnavailable(
            f"metadata database {describe(sqlalchemy_url)} refused the migration lock ({reason}): "
            "check that it accepts connections from this task, then run migrate again"
        ) from None
    try:
        yield
    finally:
        connection.close()


def drop_scheduler_wakeup(sqlalchemy_url: str) -> None:
    """Remove the scheduler's wake-up triggers from Airflow's tables (before Airflow migrates them)."""
    from deploy_airflow_on_ecs_fargate import scheduler_wakeup

    try:
        connection = psycopg2.connect(libpq_url(sqlalchemy_url), connect_timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            scheduler_wakeup.drop_triggers(connection)
        finally:
            connection.close()
    except psycopg2.Error as error:
        reason = first_line(error)
        raise DatabaseUnavailable(
            f"metadata database {describe(sqlalchemy_url)} refused to drop the scheduler's wake-up triggers "
            f"({reason}): check that the database user owns Airflow's tables, then run migrate again"
        ) from None
