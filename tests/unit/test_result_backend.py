"""Celery's result backend keeps pooled connections in every process, never shared across a fork."""

from __future__ import annotations

import os

import psycopg2
import pytest
from celery import Celery
from celery.backends.database import DatabaseBackend
from sqlalchemy import text

from deploy_airflow_on_ecs_fargate import result_backend
from deploy_airflow_on_ecs_fargate.result_backend import PooledDatabaseBackend


def test_the_metadata_database_goes_through_the_pooled_backend_and_other_backends_are_left_alone():
    url = "postgresql+psycopg2://airflow:pw@db:5432/airflow"
    assert result_backend.pooled(f"db+{url}") == f"{result_backend.POOLED_BACKEND}+{url}"
    assert result_backend.pooled("redis://cache:6379/0") == "redis://cache:6379/0"


@pytest.fixture
def app(postgres_port):
    url = f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{postgres_port}/airflow"
    return Celery("test", result_backend=result_backend.pooled(f"db+{url}"))


def server_process(backend) -> int:
    """The PostgreSQL server process behind the backend's next session: a new one per connection."""
    session = backend.ResultSession()
    try:
        return session.execute(text("SELECT pg_backend_pid()")).scalar()
    finally:
        session.close()


def test_celery_builds_the_pooled_backend_which_airflow_still_reads_in_one_query(app):
    # Airflow's BulkStateFetcher reads all states in one SELECT only from a DatabaseBackend.
    assert isinstance(app.backend, PooledDatabaseBackend)
    assert isinstance(app.backend, DatabaseBackend)


def test_a_process_that_is_not_a_fork_reuses_its_connection(app):
    """What the scheduler does on every loop: without the pool, each read opened a connection."""
    backend = app.backend
    first = server_process(backend)
    for _ in range(3):
        backend.store_result("task-1", 42, "SUCCESS")
        assert backend.get_task_meta("task-1")["status"] == "SUCCESS"
    assert server_process(backend) == first


def test_plain_celery_opens_a_connection_per_read_outside_a_fork(postgres_port):
    """The behaviour this module replaces (if Celery ever pools there itself, it can go)."""
    url = f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{postgres_port}/airflow"
    backend = Celery("plain", result_backend=f"db+{url}").backend
    assert len({server_process(backend) for _ in range(3)}) == 3


def test_a_forked_process_builds_its_own_engine(app):
    backend = app.backend
    backend.store_result("task-3", 1, "SUCCESS")
    parent_engine = backend.session_manager.get_engine(backend.url, **backend.engine_options)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            engine = backend.session_manager.get_engine(backend.url, **backend.engine_options)
            ok = engine is not parent_engine and backend.get_task_meta("task-3")["status"] == "SUCCESS"
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 1) == b"1"
    # The parent's pooled connection is intact: the child neither used nor closed it.
    assert backend.get_task_meta("task-3")["status"] == "SUCCESS"


def test_after_a_retryable_error_the_next_call_opens_fresh_connections(app):
    backend = app.backend
    backend.store_result("task-4", 1, "SUCCESS")
    engine = backend.session_manager.get_engine(backend.url, **backend.engine_options)
    backend.on_backend_retryable_error(psycopg2.OperationalError("server closed the connection"))
    assert backend.session_manager.get_engine(backend.url, **backend.engine_options) is not engine
    assert backend.get_task_meta("task-4")["status"] == "SUCCESS"
