"""Health checks: ``python -m deploy_airflow_on_ecs_fargate.health <component>``.

Exit 0 when healthy, 1 when not, with one line on stdout saying why. Each check answers within
5 seconds and imports nothing from Airflow (an Airflow import alone takes seconds), so they are
cheap enough for ECS container health checks every 30 s.

Which probe each component gets is in its catalogue entry (contract.py): an HTTP endpoint of its
own, its job row's heartbeat in the metadata database (what ``airflow jobs check --local`` does,
without its seconds of start-up), or the file a worker's Celery consumer rewrites from its event
loop (``celery inspect ping`` cannot work on SQS; see worker_heartbeat).

Each check looks at the work, not at a process: the scheduler's endpoint and the job-heartbeat
probe read a heartbeat the component writes through its own database connection (a dead connection
stops it within seconds), and fail outright when the database does not answer; the worker's
heartbeat says when SQS last answered its consumer's poll.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

from deploy_airflow_on_ecs_fargate import contract
from deploy_airflow_on_ecs_fargate.settings import (
    ConfigurationError,
    load_demand_settings,
    load_settings,
    worker_heartbeat_path,
    worker_poll_bound_seconds,
)

# A component is unhealthy when its last heartbeat is older than this (Airflow's own thresholds
# for the scheduler, triggerer and dag-processor are 30 s by default).
HEARTBEAT_THRESHOLD_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 3.0
DB_TIMEOUT_SECONDS = 3


class Unhealthy(Exception):
    """The component is not healthy; the message says why in one line."""


class Draining(Unhealthy):
    """A worker in its warm shutdown: no new tasks, its running tasks finish, then it exits.
    Unhealthy (it takes no work), but a supervisor waits for the exit instead of restarting it."""


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


def this_hostname(environ: Mapping[str, str]) -> str:
    """The host name Airflow records in its job rows: the listen address when the servers are
    bound to one (settings.LISTEN_ADDRESS_HOSTNAME_CALLABLE), else Airflow's default
    hostname_callable (the fully qualified name)."""
    address = environ.get(contract.LISTEN_ADDRESS.name, "").strip()
    if address and not contract.is_wildcard(address):
        return address
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
    except OSError:
        return name
    return next((info[3] for info in infos if info[3]), name)


def check_job_heartbeat(component: str, environ: Mapping[str, str]) -> str:
    import psycopg2

    from deploy_airflow_on_ecs_fargate.database import libpq_url

    spec = contract.component(component).health
    assert spec is not None
    job_type = spec.job_type
    hostname = this_hostname(environ)
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
            (age,) = cursor.fetchone() or (None,)
    except psycopg2.Error as error:
        raise Unhealthy(f"metadata database query failed: {str(error).strip().splitlines()[0]}") from None
    if age is None:
        raise Unhealthy(f"no running {job_type} on host {hostname}")
    if float(age) > HEARTBEAT_THRESHOLD_SECONDS:
        raise Unhealthy(f"{job_type} on {hostname} last heartbeat {float(age):.0f} s ago")
    return f"{job_type} on {hostname} heartbeat {float(age):.1f} s ago"


def check_worker_heartbeat(environ: Mapping[str, str]) -> str:
    """Healthy when the consumer's event loop rewrote the file within 30 s and SQS answered one of
    its polls within the contract's bound (or every slot is busy: a full worker does not poll)."""
    path = worker_heartbeat_path(environ)
    try:
        age = time.time() - path.stat().st_mtime
        beat = json.loads(path.read_text())
    except FileNotFoundError:
        raise Unhealthy(f"no worker heartbeat file {path}: the worker's consumer is not running") from None
    except (OSError, ValueError) as error:
        raise Unhealthy(
            f"worker heartbeat {path} is unreadable ({error}): the worker writes it, nothing else may"
        ) from None
    now = time.time()
    if beat.get("phase") == "draining":
        if not _alive(beat.get("pid")):
            raise Unhealthy(f"the worker that was draining (pid {beat.get('pid')}) has exited")
        since = now - float(beat.get("draining_since") or now)
        raise Draining(f"warm shutdown for {since:.0f} s: takes no new tasks, running tasks finish first")
    if age > HEARTBEAT_THRESHOLD_SECONDS:
        raise Unhealthy(f"worker heartbeat {path} is {age:.0f} s old: the consumer's event loop is stuck or gone")
    bound = worker_poll_bound_seconds(environ)
    silent = now - float(beat.get("answered_at") or 0)
    if silent > bound:
        reason = beat.get("error") or "no poll finished"
        raise Unhealthy(f"SQS has not answered the consumer's polls for {silent:.0f} s (bound {bound} s): {reason}")
    if beat.get("busy"):
        return "every worker slot is busy (the consumer polls again when one frees)"
    return f"SQS answered the consumer's poll {silent:.1f} s ago"


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def local_url(environ: Mapping[str, str], port: contract.Port, path: str) -> str:
    """The URL of one of this host's servers, wherever AIRFLOW_LISTEN_ADDRESS put it."""
    listen = environ.get(contract.LISTEN_ADDRESS.name, "").strip() or contract.ALL_INTERFACES
    host = contract.local_address(listen)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port.resolve(environ)}{path}"


def check_demand_heartbeat(environ: Mapping[str, str]) -> str:
    """The demand publisher's loop went round within its allowed number of periods.

    A round that could not publish (the database or CloudWatch down) still counts: restarting the
    publisher, or on ECS the scheduler's whole task it runs in, would not bring them back. The
    failure is in the line (and the logs) for a person to see."""
    settings = load_demand_settings(environ)
    path = settings.heartbeat_file
    try:
        beat = json.loads(path.read_text())
        age = time.time() - float(beat["round_at"])
    except FileNotFoundError:
        raise Unhealthy(f"no demand heartbeat file {path}: the publisher has not gone round yet") from None
    except (ValueError, KeyError, TypeError):
        raise Unhealthy(f"demand heartbeat file {path} is unreadable") from None
    limit = contract.DEMAND_STALE_PERIODS * settings.period
    if age > limit:
        raise Unhealthy(f"the publisher's last round was {age:.0f} s ago (more than {limit} s): it is stuck")
    if beat.get("error"):
        return f"running, but its last round failed: {beat['error']}"
    return f"published WorkersNeeded={beat.get('value')} {age:.1f} s ago"


def check(component: str, environ: Mapping[str, str]) -> str:
    """Return a one-line description of a healthy component, or raise Unhealthy."""
    spec = contract.component(component).health
    if spec is None:
        raise ValueError(f"{component} has no health check")
    match spec.probe:
        case "http":
            assert spec.port is not None
            return check_http(local_url(environ, spec.port, spec.path))
        case "job-heartbeat":
            return check_job_heartbeat(component, environ)
        case "worker-heartbeat":
            return check_worker_heartbeat(environ)
        case "demand-heartbeat":
            return check_demand_heartbeat(environ)
    raise ValueError(f"{component}: unknown probe {spec.probe!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy_airflow_on_ecs_fargate.health",
        description="Exit 0 if the component on this host is healthy, 1 if not.",
    )
    parser.add_argument("component", choices=contract.LONG_RUNNING_NAMES)
    component = parser.parse_args(sys.argv[1:] if argv is None else argv).component
    try:
        print(f"healthy: {check(component, os.environ)}")
        return 0
    except (Unhealthy, ConfigurationError) as problem:
        print(f"unhealthy: {problem}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
