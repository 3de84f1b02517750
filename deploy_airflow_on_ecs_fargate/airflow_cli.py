"""Airflow's command line with this runtime's additions installed first.

The entrypoint replaces itself with `python -m deploy_airflow_on_ecs_fargate.airflow_cli ARGS`
where plain Airflow would run `python -m airflow ARGS`: same commands, same arguments, but with the
process-level hooks of this runtime installed before Airflow starts:

- every command: the task-log servers listen on AIRFLOW_LISTEN_ADDRESS (listen_address.py);
- `scheduler`: a task it cannot send because SQS does not answer is sent again, not failed
  (sqs_sending.py); its idle sleep ends when PostgreSQL announces work (scheduler_wakeup.py), and
  a busy scheduler pauses between loops (scheduler_pacing.py).

The worker's hooks are connected when Celery loads its configuration (celery_config.py,
worker_lifecycle.py).
"""

from __future__ import annotations

import sys

from deploy_airflow_on_ecs_fargate import listen_address


def install_hooks(arguments: list[str]) -> None:
    listen_address.install()
    if arguments[:1] == ["scheduler"]:
        from deploy_airflow_on_ecs_fargate import scheduler_pacing, scheduler_wakeup, sqs_sending

        sqs_sending.install()
        listener = scheduler_wakeup.install()
        if listener is not None:
            scheduler_pacing.install(listener)


def main() -> None:
    install_hooks(sys.argv[1:])
    from airflow.__main__ import main as airflow_main

    sys.argv[0] = "airflow"
    sys.exit(airflow_main())


if __name__ == "__main__":
    main()
