"""The scheduler's idle sleep ends when PostgreSQL announces work, and is never longer than asked."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg2
import pytest

from deploy_airflow_on_ecs_fargate import scheduler_wakeup
from deploy_airflow_on_ecs_fargate.scheduler_wakeup import Listener

# Generous: only "returned early" versus "slept the whole timeout" is asserted, never a speed.
LONG_SLEEP = 10.0


@pytest.fixture
def database(postgres_port):
    """A database of its own with the two tables (and the columns) the triggers read."""
    name = f"wakeup_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{postgres_port}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:{postgres_port}/{name}"
    with psycopg2.connect(url) as setup, setup.cursor() as cursor:
        cursor.execute("CREATE TABLE dag_run (id serial PRIMARY KEY, state varchar(50))")
        cursor.execute("CREATE TABLE task_instance (id serial PRIMARY KEY, state varchar(20), hostname text)")
    yield url
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


def write(url: str, *statements: str) -> None:
    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    connection.close()


def timed_wait(listener: Listener, seconds: float) -> tuple[bool, float]:
    started = time.monotonic()
    woken = listener.wait(seconds)
    return woken, time.monotonic() - started


def wakeup_triggers(cursor) -> list[int]:
    cursor.execute("SELECT oid FROM pg_trigger WHERE tgname = %s ORDER BY oid", (scheduler_wakeup.FUNCTION,))
    return [row[0] for row in cursor.fetchall()]


def wait_while_writing(listener: Listener, url: str, statement: str) -> tuple[bool, float]:
    """A long wait, during which another connection commits `statement` 0.3 s in."""
    writer = threading.Thread(target=lambda: (time.sleep(0.3), write(url, statement)))
    writer.start()
    try:
        return timed_wait(listener, LONG_SLEEP)
    finally:
        writer.join()


@pytest.fixture
def listener(database):
    listener = Listener(lambda: psycopg2.connect(database))
    listener.wait(0)  # connects, installs the triggers, listens
    yield listener
    listener.close()


def test_a_new_run_ends_the_sleep(database, listener):
    woken, slept = wait_while_writing(listener, database, "INSERT INTO dag_run (state) VALUES ('queued')")
    assert woken and slept < LONG_SLEEP / 2


@pytest.mark.parametrize("state", ["success", "failed", "up_for_retry", "scheduled", None])
def test_a_task_instance_reaching_a_state_the_scheduler_acts_on_ends_the_sleep(database, listener, state):
    write(database, "INSERT INTO task_instance (state) VALUES ('running')")
    value = "NULL" if state is None else f"'{state}'"
    woken, slept = wait_while_writing(listener, database, f"UPDATE task_instance SET state = {value}")
    assert woken and slept < LONG_SLEEP / 2


def test_updates_the_scheduler_needs_not_see_do_not_wake_it(database, listener):
    write(
        database,
        "INSERT INTO task_instance (state) VALUES ('queued')",
        "INSERT INTO dag_run (state) VALUES ('running')",
    )
    assert listener.wait(LONG_SLEEP)  # the inserted run's notification
    write(
        database,
        "UPDATE task_instance SET state = 'running'",
        "UPDATE task_instance SET hostname = 'worker-1'",  # a heartbeat-like update, state unchanged
        "UPDATE dag_run SET state = 'running'",
    )
    woken, slept = timed_wait(listener, 0.5)
    assert not woken and slept >= 0.5


def test_a_notification_that_came_while_the_loop_ran_ends_the_next_sleep_at_once(database, listener):
    write(database, "INSERT INTO dag_run (state) VALUES ('queued')")
    assert timed_wait(listener, LONG_SLEEP)[0]
    woken, slept = timed_wait(listener, 0.3)  # consumed: the next sleep is a full one
    assert not woken and slept >= 0.3


def test_a_rolled_back_write_does_not_wake_the_scheduler(database, listener):
    connection = psycopg2.connect(database)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO dag_run (state) VALUES ('queued')")
    connection.rollback()
    connection.close()
    assert not listener.wait(0.3)


def test_without_a_database_the_sleep_is_the_timed_one():
    def refuse():
        raise psycopg2.OperationalError("connection refused")

    woken, slept = timed_wait(Listener(refuse), 0.3)
    assert not woken and 0.3 <= slept < LONG_SLEEP


def test_a_lost_connection_falls_back_to_timed_sleeps_then_listens_again(database, postgres_port):
    listener = Listener(lambda: psycopg2.connect(database), reconnect_after=0.5)
    listener.wait(0)
    write(database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'")
    woken, slept = timed_wait(listener, 0.3)
    assert not woken and slept >= 0.3
    time.sleep(0.5)
    listener.wait(0)  # listens again
    woken, slept = wait_while_writing(listener, database, "INSERT INTO dag_run (state) VALUES ('queued')")
    listener.close()
    assert woken and slept < LONG_SLEEP / 2


def test_tables_without_a_state_column_get_no_triggers_and_timed_sleeps(database):
    write(database, "ALTER TABLE task_instance DROP COLUMN state")
    listener = Listener(lambda: psycopg2.connect(database))
    woken, slept = timed_wait(listener, 0.3)
    listener.close()
    assert not woken and slept >= 0.3
    with psycopg2.connect(database) as connection, connection.cursor() as cursor:
        assert wakeup_triggers(cursor) == []


def test_installing_twice_changes_nothing_and_dropping_removes_everything(database):
    connection = psycopg2.connect(database)
    assert scheduler_wakeup.install_triggers(connection)
    with connection.cursor() as cursor:
        first = wakeup_triggers(cursor)
    assert len(first) == 2
    assert scheduler_wakeup.install_triggers(connection)
    with connection.cursor() as cursor:
        assert wakeup_triggers(cursor) == first  # not dropped and created again
    scheduler_wakeup.drop_triggers(connection)
    with connection.cursor() as cursor:
        assert wakeup_triggers(cursor) == []
        cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = %s", (scheduler_wakeup.FUNCTION,))
        assert cursor.fetchone()[0] == 0
    connection.close()


def test_the_migration_can_alter_the_state_column_while_the_triggers_exist(database):
    """Airflow's migrations own the schema: the triggers must not pin the column's type."""
    connection = psycopg2.connect(database)
    scheduler_wakeup.install_triggers(connection)
    connection.close()
    write(database, "ALTER TABLE task_instance ALTER COLUMN state TYPE varchar(40)")


def test_install_gives_the_scheduler_module_a_sleep_that_listens(monkeypatch):
    from airflow.jobs import scheduler_job_runner

    monkeypatch.setattr(scheduler_job_runner, "time", time)
    assert scheduler_wakeup.install(connect=lambda: None)
    stand_in = scheduler_job_runner.time
    assert isinstance(stand_in, scheduler_wakeup.SchedulerTime)
    assert stand_in.monotonic is time.monotonic and stand_in.perf_counter is time.perf_counter
    assert stand_in.sleep.__self__.__class__ is Listener
    assert scheduler_wakeup.install(connect=lambda: None)
    assert scheduler_job_runner.time is stand_in  # idempotent


def test_install_leaves_an_unexpected_scheduler_module_alone(monkeypatch):
    from airflow.jobs import scheduler_job_runner

    something_else = object()
    monkeypatch.setattr(scheduler_job_runner, "time", something_else)
    assert not scheduler_wakeup.install(connect=lambda: None)
    assert scheduler_job_runner.time is something_else


def test_airflows_scheduler_loop_still_sleeps_through_its_time_module():
    """If an Airflow upgrade sleeps some other way, the wake-up would silently do nothing: say so here."""
    import inspect

    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    source = inspect.getsource(SchedulerJobRunner._run_scheduler_loop)
    assert "time.sleep(min(self._scheduler_idle_sleep_time" in source


def test_the_migrate_step_drops_the_triggers_before_airflow_migrates(database, monkeypatch):
    from deploy_airflow_on_ecs_fargate import entrypoint
    from deploy_airflow_on_ecs_fargate.database import libpq_url

    connection = psycopg2.connect(database)
    scheduler_wakeup.install_triggers(connection)
    triggers_when_airflow_migrated = []

    def airflow_db_migrate(command, check):
        with connection.cursor() as cursor:
            triggers_when_airflow_migrated.append(len(wakeup_triggers(cursor)))
        connection.rollback()
        return type("Completed", (), {"returncode": 0})()

    monkeypatch.setattr(entrypoint.subprocess, "run", airflow_db_migrate)
    settings = type("Settings", (), {"database_url": database.replace("postgresql://", "postgresql+psycopg2://")})()
    assert libpq_url(settings.database_url) == database
    assert entrypoint.migrate(settings, []) == 0
    connection.close()
    assert triggers_when_airflow_migrated == [0]


def test_a_busy_scheduler_is_woken_at_most_every_min_wake_interval(database):
    listener = Listener(lambda: psycopg2.connect(database), min_wake_interval=0.5)
    listener.wait(0)
    write(database, "INSERT INTO dag_run (state) VALUES ('queued')")
    assert timed_wait(listener, LONG_SLEEP)[0]  # after a long idle: at once
    write(database, "INSERT INTO dag_run (state) VALUES ('queued')")
    woken, slept = timed_wait(listener, LONG_SLEEP)  # right after the previous one: held
    listener.close()
    assert woken and 0.4 <= slept < LONG_SLEEP / 2


def test_the_hold_never_outlasts_the_sleep_airflow_asked_for(database):
    listener = Listener(lambda: psycopg2.connect(database), min_wake_interval=5)
    listener.wait(0)
    write(database, "INSERT INTO dag_run (state) VALUES ('queued')")
    woken, slept = timed_wait(listener, 0.3)
    listener.close()
    assert woken and slept < 1


def test_no_triggers_are_put_back_while_the_migrate_step_holds_its_lock(database):
    from deploy_airflow_on_ecs_fargate.database import migration_lock

    listener = Listener(lambda: psycopg2.connect(database), reconnect_after=0.2)
    with migration_lock(database):
        woken, slept = timed_wait(listener, 0.3)
        assert not woken and slept >= 0.3
        with psycopg2.connect(database) as connection, connection.cursor() as cursor:
            assert wakeup_triggers(cursor) == []
    time.sleep(0.2)
    listener.wait(0)  # the migration is over: installs and listens
    woken, slept = wait_while_writing(listener, database, "INSERT INTO dag_run (state) VALUES ('queued')")
    listener.close()
    assert woken and slept < LONG_SLEEP / 2


def test_only_the_scheduler_gets_the_wakeup(monkeypatch):
    from deploy_airflow_on_ecs_fargate import airflow_cli, sqs_sending

    installed = []
    monkeypatch.setattr(sqs_sending, "install", lambda: None)
    monkeypatch.setattr(scheduler_wakeup, "install", lambda: installed.append(True))
    airflow_cli.install_hooks(["celery", "worker"])
    airflow_cli.install_hooks(["api-server"])
    assert installed == []
    airflow_cli.install_hooks(["scheduler"])
    assert installed == [True]


def test_an_open_write_transaction_delays_the_install_not_the_scheduler(database):
    """Creating a trigger waits for every open transaction that wrote to the table: the scheduler
    gives up after the lock timeout, sleeps its timed sleep and tries again later."""
    writer = psycopg2.connect(database)
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO task_instance (state) VALUES ('running')")  # left open
    listener = Listener(lambda: psycopg2.connect(database), reconnect_after=0.2)
    woken, slept = timed_wait(listener, 0.3)
    assert not woken and 0.3 <= slept < LONG_SLEEP / 2
    writer.commit()
    writer.close()
    time.sleep(0.2)
    listener.wait(0)  # installs and listens now
    woken, slept = wait_while_writing(listener, database, "INSERT INTO dag_run (state) VALUES ('queued')")
    listener.close()
    assert woken and slept < LONG_SLEEP / 2


def test_a_pause_between_busy_loops_ends_on_a_notification_but_not_before_the_min_wake_interval(database):
    listener = Listener(lambda: psycopg2.connect(database), min_wake_interval=0.5)
    listener.wait(0)
    write(database, "INSERT INTO dag_run (state) VALUES ('queued')")  # arrived while the loop ran
    started = time.monotonic()
    listener.pause(LONG_SLEEP)
    paused = time.monotonic() - started
    listener.close()
    assert 0.4 <= paused < LONG_SLEEP / 2


def test_a_pause_without_a_notification_lasts_as_asked(listener):
    started = time.monotonic()
    listener.pause(0.6)
    assert time.monotonic() - started >= 0.55


def test_a_scheduler_that_is_not_listening_does_not_pause():
    """Without notifications, a paused loop would only notice an ended task later than Airflow would."""

    def no_database():
        raise psycopg2.OperationalError("connection refused")

    listener = Listener(no_database)
    listener.wait(0)
    started = time.monotonic()
    listener.pause(LONG_SLEEP)
    assert time.monotonic() - started < LONG_SLEEP / 2
