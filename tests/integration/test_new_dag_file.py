"""The local stack keeps reading its DAG folder: a DAG file written into it while the stack runs is
listed by the REST API without a restart. The time it takes is printed (`pytest -s`): the
dag-processor looks for new files every AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL (10 s locally,
local_stack/environment.py), then parses them."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from local_stack.airflow_api import AirflowApi, ApiError
from local_stack.environment import api_url

pytestmark = pytest.mark.integration

DAG_ID = "integration_new_dag_file"
DAG = f'''from airflow.sdk import dag, task


@dag(dag_id="{DAG_ID}", schedule=None)
def new_dag_file():
    @task
    def hello():
        return "hello"

    hello()


new_dag_file()
'''


def listed(api: AirflowApi) -> bool:
    answer = api.call("GET", f"/api/v2/dags?dag_id_pattern={DAG_ID}")
    return any(dag["dag_id"] == DAG_ID for dag in answer["dags"])


def test_a_dag_file_written_into_the_folder_is_listed_without_a_restart(running_stack):
    environment = running_stack.environment
    api = AirflowApi.login(api_url(environment), "admin", "admin")
    path = Path(environment["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{DAG_ID}.py"
    assert not listed(api)
    try:
        path.write_text(DAG)
        written = time.monotonic()
        while not listed(api):
            assert time.monotonic() - written < 120, f"{DAG_ID} not listed 120 s after its file was written"
            time.sleep(0.5)
        seconds = time.monotonic() - written
        print(f"\nnew DAG file listed by the REST API {seconds:.1f} s after it was written")
    finally:
        path.unlink(missing_ok=True)
        with contextlib.suppress(ApiError):  # never listed: nothing to delete
            api.call("DELETE", f"/api/v2/dags/{DAG_ID}")
    assert not listed(api)
