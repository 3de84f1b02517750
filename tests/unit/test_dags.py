"""DAG integrity: every file in dags/ imports cleanly and defines what the project documents."""

import pytest

from tests.conftest import REPO_ROOT

EXPECTED_DAGS = {
    "example_bash_operator",
    "example_deferrable_sensor",
    "example_dynamic_task_mapping",
    "example_one_task",
}


@pytest.fixture(scope="module")
def dag_bag(tmp_path_factory):
    # Restored afterwards: later tests start processes with this process's environment.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(REPO_ROOT / "dags"))


def test_every_dag_file_imports_without_errors(dag_bag):
    assert dag_bag.import_errors == {}


def test_the_documented_dags_are_there(dag_bag):
    assert set(dag_bag.dag_ids) == EXPECTED_DAGS


def test_the_deferrable_sensor_really_defers(dag_bag):
    sensor = dag_bag.dags["example_deferrable_sensor"].get_task("wait_three_seconds")
    assert sensor.deferrable is True


def test_the_mapping_dag_expands_at_run_time(dag_bag):
    square = dag_bag.dags["example_dynamic_task_mapping"].get_task("square")
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(square, MappedOperator)
