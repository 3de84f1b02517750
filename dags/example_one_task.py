"""The smallest DAG: one task. The benchmark measures trigger-to-success with it."""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, task

with DAG(
    dag_id="example_one_task",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:

    @task
    def hello() -> str:
        return "hello"

    hello()
