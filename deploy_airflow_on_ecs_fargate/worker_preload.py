"""Import what every task's DAG file needs once, in the Celery worker's main process.

Each task runs in a process forked from a pool process forked from the worker's main process. A
module the main process has already imported is shared by every fork for free; one it has not is
imported again, from scratch, by every single task. DAG files built with ``airflow.sdk``'s
``@task`` decorators pull in the modules below, which Airflow's worker does not import itself.
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


def preload(**_) -> None:
    for name in PRELOADED_MODULES:
        importlib.import_module(name)


def install() -> None:
    """Preload in any worker this process starts, before its pool forks (idempotent)."""
    signals.worker_init.connect(preload, weak=False, dispatch_uid="airflow-worker-preload")
