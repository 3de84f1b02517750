"""Airflow's command line with this runtime's additions installed first.

The entrypoint replaces itself with `python -m deploy_airflow_on_ecs_fargate.airflow_cli ARGS`
where plain Airflow would run `python -m airflow ARGS`: same commands, same arguments, but the
task-log servers listen on AIRFLOW_LISTEN_ADDRESS (listen_address.py).
"""

from __future__ import annotations

import sys

from deploy_airflow_on_ecs_fargate import listen_address


def main() -> None:
    listen_address.install()
    from airflow.__main__ import main as airflow_main

    sys.argv[0] = "airflow"
    sys.exit(airflow_main())


if __name__ == "__main__":
    main()
