"""Dynamic task mapping: one task instance per element, fanned out at run time."""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="example_dynamic_task_mapping",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
    params={"count": Param(5, type="integer", minimum=1, maximum=500)},
) as dag:

    @task
    def numbers(params=None) -> list[int]:
        return list(range(params["count"]))

    @task
    def square(number: int) -> int:
        return number * number

    @task
    def total(squares: list[int], params=None) -> int:
        count = params["count"]
        expected = sum(n * n for n in range(count))
        result = sum(squares)
        if result != expected:
            raise ValueError(f"sum of squares of 0..{count - 1} is {expected}, mapped tasks gave {result}")
        return result

    total(square.expand(number=numbers()))
