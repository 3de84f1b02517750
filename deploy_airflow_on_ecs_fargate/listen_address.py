"""Every server of a component listens on AIRFLOW_LISTEN_ADDRESS (docs/runtime-contract.md).

Inside a container that is every interface (the task's own network namespace); the local stack
sets 127.0.0.1 so that nothing it starts is reachable from the network it runs on.

The api-server and the scheduler's health server take their address from Airflow options, which
`settings.Settings.airflow_environment` derives. The task-log servers of the worker and the
triggerer have no such option: Airflow 3.3 binds them to every interface
(`uvicorn.run(host="")` in `airflow.utils.serve_logs.core`). `install()` replaces the function
both start (looked up at call time as `airflow.utils.serve_logs.serve_logs`) with one that
serves the same application on the configured address. Airflow is pinned exactly; the local
stack's integration test lists the stack's listening sockets, so a change upstream shows there.
"""

from __future__ import annotations

import os

from deploy_airflow_on_ecs_fargate import contract


def listen_address() -> str:
    return os.environ.get(contract.LISTEN_ADDRESS.name, "").strip() or contract.ALL_INTERFACES


def advertised_hostname() -> str:
    """Airflow's `[core] hostname_callable` when the servers are bound to one address: peers
    (the api-server fetching a running task's log) must use that address, not the host name."""
    return listen_address()


def serve_logs(port: int | None = None) -> None:
    """Airflow's task-log server on AIRFLOW_LISTEN_ADDRESS (same app, port option and title)."""
    import uvicorn
    from airflow.configuration import conf
    from setproctitle import setproctitle

    setproctitle("airflow serve-logs")
    port = port or conf.getint("logging", "WORKER_LOG_SERVER_PORT")
    uvicorn.run(
        "airflow.utils.serve_logs.log_server:get_app",
        factory=True,
        host=listen_address(),
        port=port,
        log_level=conf.get("logging", "uvicorn_logging_level", fallback="info").lower(),
        log_config=None,
        access_log=False,
    )


def install() -> None:
    """Make the worker and the triggerer start `serve_logs` above (idempotent)."""
    import airflow.utils.serve_logs

    airflow.utils.serve_logs.serve_logs = serve_logs
