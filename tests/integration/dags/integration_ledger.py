"""Test-only DAG: tasks that each write one line to a ledger file when they finish.

The fault tests count the lines: a task lost to a fault leaves its line missing, a task run twice
(a killed try that still finished, then its retry) leaves two. The ledger's path comes from the
environment the stack gives every component (`AIRFLOW_VAR_FAULT_LEDGER`), read in the task process
itself, so writing it needs neither the database nor the API.

conf: `count` tasks (mapped), each sleeping `seconds` before it writes.
"""

from __future__ import annotations

import datetime
import os
import time

from airflow.sdk import DAG, get_current_context, task

LEDGER_VARIABLE = "AIRFLOW_VAR_FAULT_LEDGER"


@task
def indexes(**context) -> list[int]:
    return list(range(int(context["params"]["count"])))


@task(retries=3, retry_delay=datetime.timedelta(seconds=1))
def write_line(index: int) -> None:
    context = get_current_context()
    seconds = float(context["params"]["seconds"])
    ti = context["ti"]
    ledger = os.environ[LEDGER_VARIABLE]
    line = f"{context['run_id']} {index} try={ti.try_number} pid={os.getpid()}"
    with open(ledger + ".started", "a") as started:
        started.write(line + "\n")
    time.sleep(seconds)
    # One write with O_APPEND: lines of concurrent tasks never interleave.
    with open(ledger, "a") as done:
        done.write(line + "\n")


with DAG(
    dag_id="integration_ledger",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    params={"count": 1, "seconds": 0},
    max_active_tasks=64,
) as dag:
    write_line.expand(index=indexes())
