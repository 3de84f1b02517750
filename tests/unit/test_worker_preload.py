"""The worker preloads what task processes would otherwise import from scratch, task after task."""

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
    monkeypatch.delitem(sys.modules, "preload_probe", raising=False)
    worker_preload.install()
    app = Celery("preload-test", broker="memory://", set_as_current=False)
    app.conf.worker_hijack_root_logger = False

    # Creating the worker is enough: its pool processes fork later, in start(), and share the module.
    app.Worker(pool="prefork", concurrency=2, loglevel="WARNING", quiet=True)

    assert "preload_probe" in sys.modules
