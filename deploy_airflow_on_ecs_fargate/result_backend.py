"""Celery's database result backend, with a connection pool in every process.

Celery's ``DatabaseBackend`` pools its connections only in a process it knows to be a fork (a
worker's pool process). Anywhere else, Airflow's scheduler included, every call builds a new
SQLAlchemy engine and opens a new connection (``NullPool``). The scheduler's Celery executor asks
for the state of its running tasks on every loop: measured on the local stack, the scheduler opened
79 PostgreSQL connections in 30 s for a run of 62 tasks, each a new server process, and against RDS
also a TLS handshake and a password exchange (docs/decisions/0083-pooled-result-backend.md).

Here every process keeps one engine per database URL, with Celery's own pool options (pre-ping,
recycle), so a connection lost in a failover is replaced on its next use. A process forked from one
that holds an engine builds its own instead of sharing its parent's connections.
"""

from __future__ import annotations

import os

from celery.backends.database import DatabaseBackend
from celery.backends.database.session import SessionManager
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

# Celery's result_backend setting names a backend class as "module:Class+<database URL>".
CELERY_DATABASE_PREFIX = "db+"
POOLED_BACKEND = f"{__name__}:PooledDatabaseBackend"


class ProcessPooledSessionManager(SessionManager):
    """Celery's session manager, with engines kept per process (never shared across a fork)."""

    def get_engine(self, dburi, **kwargs):
        key = (os.getpid(), dburi)
        if key not in self._engines:
            self._engines[key] = create_engine(dburi, **kwargs)
        return self._engines[key]

    def create_session(self, dburi, short_lived_sessions=False, **kwargs):
        engine = self.get_engine(dburi, **kwargs)
        key = (os.getpid(), dburi)
        if short_lived_sessions or key not in self._sessions:
            self._sessions[key] = sessionmaker(bind=engine)
        return engine, self._sessions[key]

    def invalidate(self, dburi):
        """After a retryable database error: the next call opens fresh connections."""
        key = (os.getpid(), dburi)
        self._sessions.pop(key, None)
        engine = self._engines.pop(key, None)
        if engine is not None:
            engine.dispose()


class PooledDatabaseBackend(DatabaseBackend):
    """Airflow's default result backend (the metadata database), pooled in every process."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.session_manager = ProcessPooledSessionManager()


def pooled(result_backend: str) -> str:
    """The same database through the pooled backend; any other result backend unchanged."""
    if result_backend.startswith(CELERY_DATABASE_PREFIX):
        return f"{POOLED_BACKEND}+{result_backend.removeprefix(CELERY_DATABASE_PREFIX)}"
    return result_backend
