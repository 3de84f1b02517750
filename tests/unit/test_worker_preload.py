"""The worker preloads what task processes would otherwise import from scratch, task after task, and
what each pool process would otherwise do again on its first result write and first execution API
client."""

import json
import subprocess
import sys

import pytest
from celery import Celery

from deploy_airflow_on_ecs_fargate import worker_preload
from tests.conftest import REPO_ROOT

# Stands for a worker's pool process before it forks a task: the Celery app and the task path are
# imported (the worker does that itself); then, optionally, our preload; then one task parses the
# example DAGs. It prints the airflow modules that parsing had to import.
TASK_PROCESS = """
import json, sys
import airflow.providers.celery.executors.celery_executor_utils
import airflow.sdk.execution_time.supervisor, airflow.sdk.execution_time.task_runner
from airflow.dag_processing.dagbag import DagBag
if sys.argv[2] == "preload":
    from deploy_airflow_on_ecs_fargate import worker_preload
    worker_preload.preload()
before = set(sys.modules)
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith("airflow"))))
"""


def modules_a_task_imports(tmp_path, mode: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", TASK_PROCESS, str(REPO_ROOT / "dags"), mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


# Stands for a worker's main process before its pool forks (optionally preloaded), then for a pool
# process's first task: the execution API client it builds, the result write Celery makes (here to a
# SQLite result backend). Prints what that still had to import and build.
POOL_PROCESS = """
import json, ssl, sys
import airflow.providers.celery.executors.celery_executor_utils as celery_utils
import airflow.sdk.execution_time.supervisor
from airflow.models.base import Base
from airflow.sdk.api.client import Client
if sys.argv[1] == "preload":
    from deploy_airflow_on_ecs_fargate import worker_preload
    worker_preload.preload()
mappers_left = sum(not mapper.configured for mapper in Base.registry.mappers)
built = []
create_default_context = ssl.create_default_context
ssl.create_default_context = lambda *a, **k: built.append(1) or create_default_context(*a, **k)
Client(base_url="http://127.0.0.1:8080/execution/", token="a-task-token").close()
before = set(sys.modules)
celery_utils.app.backend.store_result("a-celery-task-id", None, "SUCCESS")
imported = sorted(m for m in set(sys.modules) - before if m.startswith(("airflow", "sqlalchemy")))
print(json.dumps({"mappers_left": mappers_left, "ssl_contexts_built": len(built), "imported": imported}))
"""


@pytest.fixture(scope="module")
def first_task_of_a_pool_process(tmp_path_factory):
    def run(mode: str) -> dict:
        home = tmp_path_factory.mktemp(f"pool-{mode}")
        result = subprocess.run(
            [sys.executable, "-c", POOL_PROCESS, mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
            env={
                "PATH": "/usr/bin:/bin",
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{home}/results.db",
                "PYTHONPATH": str(REPO_ROOT),
            },
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    return {mode: run(mode) for mode in ("none", "preload")}


def test_without_the_preload_the_first_result_write_imports_airflows_models(first_task_of_a_pool_process):
    alone = first_task_of_a_pool_process["none"]
    assert alone["mappers_left"] > 0
    assert "airflow.models.serialized_dag" in alone["imported"]


def test_after_the_preload_the_first_result_write_imports_nothing_and_configures_no_mapper(
    first_task_of_a_pool_process,
):
    preloaded = first_task_of_a_pool_process["preload"]
    assert preloaded["mappers_left"] == 0
    assert preloaded["imported"] == []


def test_the_execution_api_clients_ssl_context_is_built_once_before_the_pool_forks(first_task_of_a_pool_process):
    # Airflow builds it even for a plain-HTTP URL, once per process: without the preload, in each pool process.
    assert first_task_of_a_pool_process["none"]["ssl_contexts_built"] == 1
    assert first_task_of_a_pool_process["preload"]["ssl_contexts_built"] == 0


def test_without_the_preload_every_task_imports_the_sdk_decorators_again(tmp_path):
    assert "airflow.sdk.definitions.decorators" in modules_a_task_imports(tmp_path, "none")


def test_with_the_preload_parsing_the_example_dags_imports_nothing_more_from_airflow(tmp_path):
    assert modules_a_task_imports(tmp_path, "preload") == []


# CI and this machine run as root; Celery warns about a root worker (the image runs as uid 50000).
@pytest.mark.filterwarnings("ignore::celery.platforms.SecurityWarning")
def test_a_worker_preloads_when_it_is_created_before_its_pool_exists(tmp_path, monkeypatch):
    (tmp_path / "preload_probe.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(worker_preload, "PRELOADED_MODULES", ("preload_probe",))
    monkeypatch.setattr(worker_preload, "STEPS", (worker_preload.import_task_machinery,))
    monkeypatch.delitem(sys.modules, "preload_probe", raising=False)
    worker_preload.install()
    app = Celery("preload-test", broker="memory://", set_as_current=False)
    app.conf.worker_hijack_root_logger = False

    # Creating the worker is enough: its pool processes fork later, in start(), and share the module.
    app.Worker(pool="prefork", concurrency=2, loglevel="WARNING", quiet=True)

    assert "preload_probe" in sys.modules
