"""Health checks: ``python -m deploy_airflow_on_ecs_fargate.health <component>``.

Exit 0 when healthy, 1 when not, with one line on stdout saying why. Each check answers within
5 seconds and imports nothing from Airflow (an Airflow import alone takes seconds), so they are
cheap enough for ECS container health checks every 30 s.

- api-server: its own health endpoint answers 200.
- scheduler: its built-in health server (``[scheduler] enable_health_check``) answers 200; the
  server itself checks the scheduler job's heartbeat.
- dag-processor, triggerer: this host's job row in the metadata database has a recent heartbeat
  (what ``airflow jobs check --local`` does, without its seconds of start-up).
- worker: the heartbeat file that the worker's consumer touches from its event loop is fresh
  (see worker_heartbeat: ``celery inspect ping`` cannot work on SQS).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from deploy_airflow_on_ecs_fargate.components import API_SERVER_PORT, SCHEDULER_HEALTH_PORT
from deploy_airflow_on_ecs_fargate.settings import (
    DEFAULT_WORKER_HEARTBEAT_FILE,
    LONG_RUNNING_COMPONENTS,
    ConfigurationError,
    load_settings,
)

# A component is unhealthy when its last heartbeat is older than this (Airflow's own thresholds
# for the scheduler, triggerer and dag-processor are 30 s by default).
HEARTBEAT_THRESHOLD_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 3.0
DB_TIMEOUT_SECONDS = 3

JOB_TYPES = {"dag-processor": "DagProcessorJob", "triggerer": "TriggererJob"}


class Unhealthy(Exception):
    """The component is not healthy; the message says why in one line."""


def check_http(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unhealthy(f"{url} did not answer: {reason}") from None
    if status != 200:
        raise Unhealthy(f"{url} answered HTTP {status}")
    return f"{url} answered 200"


def this_hostname() -> str:
    """The host name Airflow records in its job rows (its default hostname_callable)."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
    except OSError:
        return name
    return next((info[3] for info in infos if info[3]), name)


def check_job_heartbeat(component: str, environ: Mapping[str, str]) -> str:
    import psycopg2

    from deploy_airflow_on_ecs_fargate.database import libpq_url

    job_type = JOB_TYPES[component]
    hostname = this_hostname()
    settings = load_settings(component, environ)
    try:
        with (
            psycopg2.connect(
                libpq_url(settings.database_url),
                connect_timeout=DB_TIMEOUT_SECONDS,
                options=f"-c statement_timeout={DB_TIMEOUT_SECONDS * 1000}",
            ) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "SELECT EXTRACT(EPOCH FROM (now() - max(latest_heartbeat))) FROM job "
                "WHERE job_type = %s AND state = 'running' AND hostname = %s",
                (job_type, hostname),
            )
            (age,) = cursor.fetchone()
    except psycopg2.Error as error:
        raise Unhealthy(f"metadata database query failed: {str(error).strip().splitlines()[0]}") from None
    if age is None:
        raise Unhealthy(f"no running {job_type} on host {hostname}")
    if float(age) > HEARTBEAT_THRESHOLD_SECONDS:
        raise Unhealthy(f"{job_type} on {hostname} last heartbeat {float(age):.0f} s ago")
    return f"{job_type} on {hostname} heartbeat {float(age):.1f} s ago"


def check_worker_heartbeat(environ: Mapping[str, str]) -> str:
    path = Path(environ.get("AIRFLOW_WORKER_HEARTBEAT_FILE") or DEFAULT_WORKER_HEARTBEAT_FILE)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        raise Unhealthy(f"no worker heartbeat file {path}: the worker's consumer is not running") from None
    if age > HEARTBEAT_THRESHOLD_SECONDS:
        raise Unhealthy(f"worker heartbeat {path} is {age:.0f} s old: the consumer loop is stuck or gone")
    return f"worker heartbeat {age:.1f} s ago"


def check(component: str, environ: Mapping[str, str]) -> str:
    """Return a one-line description of a healthy component, or raise Unhealthy."""
    match component:
        case "api-server":
            return check_http(f"http://127.0.0.1:{API_SERVER_PORT}/api/v2/monitor/health")
        case "scheduler":
            return check_http(f"http://127.0.0.1:{SCHEDULER_HEALTH_PORT}/health")
        case "dag-processor" | "triggerer":
            return check_job_heartbeat(component, environ)
        case "worker":
            return check_worker_heartbeat(environ)
    raise ValueError(component)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy_airflow_on_ecs_fargate.health",
        description="Exit 0 if the component on this host is healthy, 1 if not.",
    )
    parser.add_argument("component", choices=LONG_RUNNING_COMPONENTS)
    component = parser.parse_args(sys.argv[1:] if argv is None else argv).component
    try:
        print(f"healthy: {check(component, os.environ)}")
        return 0
    except (Unhealthy, ConfigurationError) as problem:
        print(f"unhealthy: {problem}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
