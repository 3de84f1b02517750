"""Test-only DAG: a task long enough to kill its worker in the middle of it."""

from __future__ import annotations

import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    dag_id="integration_long_task",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": datetime.timedelta(seconds=1)},
) as dag:
    BashOperator(task_id="sleep_then_succeed", bash_command="echo started; sleep 12; echo finished")
