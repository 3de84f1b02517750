"""Do once, in the Celery worker's main process, what every pool or task process would do again.

Each task runs in a process forked from a pool process forked from the worker's main process. A
module the main process has already imported, or a cache it has already filled, is shared by every
fork for free; one it has not is paid again by every pool process, or by every single task:
- DAG files built with ``airflow.sdk``'s ``@task`` decorators pull in modules that Airflow's worker
  does not import itself: every task process would import them from scratch;
- the first Celery result write in each pool process configures SQLAlchemy's mappers, which imports
  Airflow's whole model and serialization layer (``import_all_models``): about 0.5-1.5 CPU-s per
  pool process (docs/decisions/0080-where-a-task-spends-its-cpu.md);
- the first execution API client in each pool process builds its SSL context (the system's and
  certifi's CA certificates), cached per process, even when the URL is plain HTTP.
Nothing here changes what runs or how: the same imports and the same SSL context, made earlier.
"""

from __future__ import annotations

import importlib

from celery import signals

PRELOADED_MODULES = (
    # What `@task` and parsing a DAG file in a task process need (measured: about 0.04 CPU-s a task).
    "airflow.sdk.definitions.decorators",
    "airflow.sdk.definitions.asset.metadata",
    "airflow.dag_processing.bundles.local",
    "airflow.version",
    # The standard provider's everyday operators and sensors, as the example DAGs use them.
    "airflow.providers.standard.operators.bash",
    "airflow.providers.standard.operators.empty",
    "airflow.providers.standard.operators.python",
    "airflow.providers.standard.sensors.time_delta",
)

# Never contacted: building a client is enough to fill its per-process SSL context cache.
UNUSED_EXECUTION_API_URL = "http://127.0.0.1/execution/"


def import_task_machinery() -> None:
    for name in PRELOADED_MODULES:
        importlib.import_module(name)


def configure_database_models() -> None:
    """What a pool process's first result write does: import every model, configure the mappers.

    Only Python objects: no engine and no connection is made here, so nothing database-related is
    shared across the fork (Celery's result backend opens its connections in each pool process).
    """
    from airflow.models import import_all_models
    from sqlalchemy.orm import configure_mappers

    import_all_models()
    configure_mappers()


def build_execution_api_ssl_context() -> None:
    """Fill the execution API client's SSL context cache (Airflow caches it per process, keyed by
    its CA settings) through the client's public constructor: pool processes inherit it."""
    from airflow.sdk.api.client import Client

    Client(base_url=UNUSED_EXECUTION_API_URL, token="").close()


STEPS = (import_task_machinery, configure_database_models, build_execution_api_ssl_context)


def preload(**_) -> None:
    for step in STEPS:
        step()


def install() -> None:
    """Preload in any worker this process starts, before its pool forks (idempotent)."""
    signals.worker_init.connect(preload, weak=False, dispatch_uid="airflow-worker-preload")
