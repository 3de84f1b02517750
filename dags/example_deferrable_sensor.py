"""A deferrable sensor: the wait runs in the triggerer, not in a worker slot."""

from __future__ import annotations

import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG

with DAG(
    dag_id="example_deferrable_sensor",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    wait = TimeDeltaSensor(task_id="wait_three_seconds", delta=datetime.timedelta(seconds=3), deferrable=True)
    done = BashOperator(task_id="after_wait", bash_command="echo waited")
    wait >> done
