"""The scheduler wakes up when there is work, instead of finding it at its next poll.

Airflow's scheduler loop sleeps ``[scheduler] scheduler_idle_sleep_time`` after every loop that
found nothing to do. A triggered run waits for the end of that sleep before it starts, and again,
once its last task has ended, before it is marked done: at a 0.2 s idle sleep about 0.3 s of a
one-task run's 0.47 s (docs/decisions/0082-scheduler-wakes-on-notify.md).

Here PostgreSQL tells the scheduler. Triggers on ``dag_run`` and ``task_instance`` send a
notification (``pg_notify``, delivered when the writing transaction commits) when a run is
created or queued, or a task instance reaches a state the scheduler acts on. The scheduler's idle
sleep waits on that channel (``LISTEN``) for at most the same idle sleep, and returns as soon as a
notification arrives. It never sleeps longer than Airflow would: without the triggers, with a
dropped listening connection or on another database, it is Airflow's own timed sleep.

``install()`` gives Airflow's scheduler module a stand-in for ``time`` whose ``sleep`` is
``Listener.wait``; everything else is the ``time`` module.
"""

from __future__ import annotations

import contextlib
import logging
import select
import time
import types
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extensions

from deploy_airflow_on_ecs_fargate.database import MIGRATION_LOCK_ID, first_line, libpq_url

log = logging.getLogger(__name__)

CHANNEL = "airflow_ecs_scheduler"
FUNCTION = "airflow_ecs_wake_scheduler"
TRIGGERED_TABLES = ("dag_run", "task_instance")

# Task instance states after which the scheduler has something to do: a finished task frees a slot
# and may unblock its downstream tasks or end its run; "scheduled" is set by the triggerer when a
# deferred task resumes; NULL is a task cleared by a user. Queued, running, deferred and restarting
# are set on the way to running a task and need nothing from the scheduler.
WAKING_TASK_STATES = (
    "success",
    "failed",
    "skipped",
    "upstream_failed",
    "removed",
    "up_for_retry",
    "up_for_reschedule",
    "scheduled",
)

# The condition is in the function's body, not in a WHEN clause: a WHEN clause would make
# PostgreSQL refuse an Airflow migration that alters the state column.
FUNCTION_BODY = f"""
BEGIN
    IF TG_TABLE_NAME = 'dag_run' THEN
        IF TG_OP = 'INSERT' OR (NEW.state = 'queued' AND OLD.state IS DISTINCT FROM 'queued') THEN
            PERFORM pg_notify('{CHANNEL}', '');
        END IF;
    ELSIF NEW.state IS DISTINCT FROM OLD.state
          AND (NEW.state IS NULL OR NEW.state IN ({", ".join(f"'{state}'" for state in WAKING_TASK_STATES)})) THEN
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
    RETURN NULL;
END
"""

# Schedulers of one deployment may start together (HA): one installs, the others try again later.
INSTALL_LOCK_ID = 0x5C4ED01E
INSTALL_LOCK_TIMEOUT = "2s"

# A dead listening connection is noticed by TCP keepalive within about a minute; until then the
# scheduler sleeps its timed sleep, as without this module.
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
CONNECT_TIMEOUT_SECONDS = 3
# An idle scheduler wakes at once; a busy one, woken by every task that ends, at most this often
# after its previous sleep. Measured on the local stack (decision 0082), 250-task runs: waking at
# once cost 325-340 CPU-ms per task and ran 5.4-5.6 tasks/s; 0.1 s 285-302 CPU-ms and 5.9-6.3/s, for
# a one-task run 0.22-0.27 s either way; 0.25 s made that 0.29 s.
MIN_WAKE_INTERVAL_SECONDS = 0.1
RECONNECT_AFTER_SECONDS = 30


def triggers_installed(connection) -> bool:
    """True when both triggers exist and call this version of the function."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", (FUNCTION,))
        bodies = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s AND c.relname IN %s AND NOT t.tgisinternal",
            (FUNCTION, TRIGGERED_TABLES),
        )
        triggers = cursor.fetchone()[0]
    return bodies == [FUNCTION_BODY] and triggers == len(TRIGGERED_TABLES)


def tables_have_state_columns(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name IN %s AND column_name = 'state'",
            (TRIGGERED_TABLES,),
        )
        return cursor.fetchone()[0] == len(TRIGGERED_TABLES)


def install_triggers(connection) -> bool:
    """Create or update the function and its triggers (one transaction). False, and nothing
    created, while the migrate step holds its lock or if the tables are not as expected."""
    # One transaction (psycopg2's connection context): committed, or rolled back on error.
    with connection, connection.cursor() as cursor:
        # Creating a trigger waits for every open transaction that wrote to the table, and queues
        # every new writer behind it: give up quickly instead (the listener tries again later).
        cursor.execute(f"SET LOCAL lock_timeout = '{INSTALL_LOCK_TIMEOUT}'")
        # Another scheduler installing, or the migrate step holding its lock from before it drops
        # the triggers until Airflow's migration has ended: not now.
        for lock in (INSTALL_LOCK_ID, MIGRATION_LOCK_ID):
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", (lock,))
            if not cursor.fetchone()[0]:
                return False
        if triggers_installed(connection):
            return True
        if not tables_have_state_columns(connection):
            return False
        cursor.execute(
            f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $wake${FUNCTION_BODY}$wake$"
        )
        for table in TRIGGERED_TABLES:
            event = "INSERT OR UPDATE" if table == "dag_run" else "UPDATE"
            cursor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION} ON {table}")
            cursor.execute(
                f"CREATE TRIGGER {FUNCTION} AFTER {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
            )
    return True


def drop_triggers(connection) -> None:
    """Before Airflow migrates its tables: the schema is Airflow's alone while it changes; the
    next scheduler to start installs the triggers again."""
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (INSTALL_LOCK_ID,))
        for table in TRIGGERED_TABLES:
            cursor.execute("SELECT to_regclass(%s)", (table,))
            if cursor.fetchone()[0] is not None:
                cursor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION} ON {table}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Listener:
    """Waits for the channel's notifications on its own connection, at most a given time."""

    def __init__(
        self,
        connect: Callable[[], psycopg2.extensions.connection],
        *,
        reconnect_after: float = RECONNECT_AFTER_SECONDS,
        min_wake_interval: float = MIN_WAKE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._connect = connect
        self._reconnect_after = reconnect_after
        self._clock = clock
        self._connection: psycopg2.extensions.connection | None = None
        self._next_attempt = 0.0
        self._min_wake_interval = min_wake_interval
        self._last_return = float("-inf")

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when a notification ended the sleep early (or had
        arrived since the last wait: what it announced may have happened after the loop looked)."""
        # A busy scheduler is woken by every task that ends: hold it until MIN_WAKE_INTERVAL
        # after its previous sleep, so that one loop handles what ended meanwhile.
        woken = self._sleep(seconds, hold_from=self._last_return)
        self._last_return = self._clock()
        return woken

    @property
    def last_sleep_ended(self) -> float:
        """When the last ``wait`` (Airflow's idle sleep) returned, on this listener's clock."""
        return self._last_return

    def pause(self, seconds: float) -> None:
        """Between two busy scheduler loops (scheduler_pacing.py): up to ``seconds``, ended by a
        notification once MIN_WAKE_INTERVAL has passed. No pause when not listening: without
        notifications, a pause would only delay what a busy loop is there to notice."""
        if self._connection is not None:
            self._sleep(seconds, hold_from=self._clock())

    def _sleep(self, seconds: float, *, hold_from: float) -> bool:
        """Up to ``seconds``; a notification ends it, but not before MIN_WAKE_INTERVAL after
        ``hold_from``. True when a notification ended it."""
        deadline = self._clock() + max(seconds, 0.0)
        woken = self._wait_for_notification(deadline)
        end = min(hold_from + self._min_wake_interval, deadline) if woken else deadline
        time.sleep(max(end - self._clock(), 0.0))
        return woken

    def _wait_for_notification(self, deadline: float) -> bool:
        connection = self._listening_connection()
        if connection is None:
            return False
        try:
            while True:
                connection.poll()
                if connection.notifies:
                    connection.notifies.clear()
                    return True
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                select.select([connection], [], [], remaining)
        except (psycopg2.Error, OSError, ValueError) as error:
            log.warning("scheduler wake-up: listening connection lost (%s); timed sleeps for now", error)
            self.close()
            self._next_attempt = self._clock() + self._reconnect_after
            return False

    def _listening_connection(self) -> psycopg2.extensions.connection | None:
        if self._connection is not None or self._clock() < self._next_attempt:
            return self._connection
        connection = None
        try:
            connection = self._connect()
            connection.autocommit = False
            installed = install_triggers(connection)
            if installed:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                self._connection = connection
                return connection
            reason = "the tables are being migrated, or have no state column"
        except (psycopg2.Error, OSError) as error:
            reason = first_line(error)
        if connection is not None:
            with contextlib.suppress(psycopg2.Error):
                connection.close()
        log.warning("scheduler wake-up: not listening (%s); timed sleeps, trying again later", reason)
        self._next_attempt = self._clock() + self._reconnect_after
        return None

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg2.Error):
                self._connection.close()
            self._connection = None


class SchedulerTime(types.SimpleNamespace):
    """The ``time`` module, but with ``sleep`` waiting for a notification."""

    def __init__(self, listener: Listener):
        super().__init__(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
        self.listener = listener
        self.sleep = listener.wait


def connect_to_metadata_database() -> psycopg2.extensions.connection:
    from airflow.configuration import conf

    return psycopg2.connect(
        libpq_url(conf.get("database", "sql_alchemy_conn")), connect_timeout=CONNECT_TIMEOUT_SECONDS, **KEEPALIVES
    )


def install(connect: Callable[[], psycopg2.extensions.connection] = connect_to_metadata_database) -> Listener | None:
    """Make Airflow's scheduler loop sleep on a listener (idempotent) and return it. None, and
    nothing changed, when the scheduler module does not use the ``time`` module as expected."""
    from airflow.jobs import scheduler_job_runner

    current = getattr(scheduler_job_runner, "time", None)
    if isinstance(current, SchedulerTime):
        return current.listener
    if current is not time:
        log.warning("scheduler wake-up: Airflow's scheduler does not use time.sleep as expected; not installed")
        return None
    listener = Listener(connect)
    scheduler_job_runner.time = SchedulerTime(listener)  # type: ignore[assignment]
    return listener
