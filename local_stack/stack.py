"""`make up`, `make down`, `make status`: the local stack's lifecycle.

Order matters both ways. Up: database and broker, then `migrate`, then the admin user and the five
components through the same entrypoint the containers use. Down: stop what creates work first
(scheduler), let the workers finish their running tasks while the api-server (their execution
API) is still up, then save the broker's backlog and stop the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from deploy_airflow_on_ecs_fargate import health
from deploy_airflow_on_ecs_fargate.components import (
    API_SERVER_PORT,
    SCHEDULER_HEALTH_PORT,
    TRIGGERER_LOG_SERVER_PORT,
    WORKER_LOG_SERVER_PORT,
)
from deploy_airflow_on_ecs_fargate.settings import ConfigurationError
from local_stack import broker, postgres, stamps
from local_stack.environment import API_URL, POSTGRES_PORT, SQS_PORT, component_environment
from local_stack.paths import REPO_ROOT, StackPaths
from local_stack.preflight import PreflightError, ensure_port_free
from local_stack.processes import running_pid, start_detached, stop_group

HEALTHY_TIMEOUT_SECONDS = 180
MIGRATE_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Component:
    name: str
    port: int | None
    # How long `make down` lets it finish after SIGTERM before killing it.
    stop_timeout: float


COMPONENTS = (
    Component("api-server", API_SERVER_PORT, 30),
    Component("scheduler", SCHEDULER_HEALTH_PORT, 60),
    Component("dag-processor", None, 30),
    Component("triggerer", TRIGGERER_LOG_SERVER_PORT, 60),
    # Warm shutdown: running tasks finish first (LOCAL_STACK_WORKER_STOP_TIMEOUT to change).
    Component("worker", WORKER_LOG_SERVER_PORT, float(os.environ.get("LOCAL_STACK_WORKER_STOP_TIMEOUT", 600))),
)
STOP_ORDER = ("scheduler", "triggerer", "dag-processor", "worker", "api-server")
BROKER = "sqs"


class StackError(Exception):
    """Something stopped `make up`; the message is one line."""


def say(message: str) -> None:
    print(message, flush=True)


def entrypoint(component: str) -> list[str]:
    return [sys.executable, "-m", "deploy_airflow_on_ecs_fargate", component]


def up(paths: StackPaths) -> None:
    started = time.monotonic()
    paths.create()
    environment = component_environment(paths, os.environ)
    to_start = [c for c in COMPONENTS if running_pid(paths.pid_file(c.name)) is None]
    broker_running = running_pid(paths.pid_file(BROKER)) is not None
    _preflight(paths, to_start, broker_running)

    _start_postgres(paths)
    queue_url = _start_broker(paths, environment, broker_running)
    paths.environment_file.write_text(json.dumps(environment))
    paths.environment_file.chmod(0o600)

    if to_start:
        _migrate(paths, environment)
        admin = _start_admin_step(paths, environment)
        for component in to_start:
            start_detached(
                entrypoint(component.name),
                log_file=paths.log_file(component.name),
                pid_file=paths.pid_file(component.name),
                env=environment,
                cwd=REPO_ROOT,
            )
        _wait_healthy(paths, environment, to_start, started)
        _finish_admin_step(paths, environment, admin)
    else:
        say("  every component was already running")

    _restore_backlog(paths, queue_url)
    user, password = environment["AIRFLOW_ADMIN_USERNAME"], environment["AIRFLOW_ADMIN_PASSWORD"]
    say(f"Airflow is up in {time.monotonic() - started:.1f} s: {API_URL}  (login {user} / {password})")


def _preflight(paths: StackPaths, to_start: list[Component], broker_running: bool) -> None:
    if not postgres.is_running(paths.pgdata):
        ensure_port_free(POSTGRES_PORT, "the local PostgreSQL")
    if not broker_running:
        ensure_port_free(SQS_PORT, "the local SQS emulator")
    for component in to_start:
        if component.port:
            ensure_port_free(component.port, f"the {component.name}")


def _start_postgres(paths: StackPaths) -> None:
    begun = time.monotonic()
    try:
        fresh = postgres.start(paths.pgdata, port=POSTGRES_PORT, log_file=paths.postgres_log)
    except postgres.PostgresError as error:
        raise StackError(str(error)) from None
    state = "started" if fresh else "already running"
    say(f"  postgres    {state} on 127.0.0.1:{POSTGRES_PORT} ({time.monotonic() - begun:.1f} s)")


def _start_broker(paths: StackPaths, environment: dict[str, str], running: bool) -> str:
    begun = time.monotonic()
    if not running:
        start_detached(
            broker.server_command(sys.executable, SQS_PORT),
            log_file=paths.log_file(BROKER),
            pid_file=paths.pid_file(BROKER),
            env=environment,
            cwd=paths.home,
        )
    try:
        broker.wait_until_serving(SQS_PORT)
    except TimeoutError as error:
        raise StackError(f"{error}: see {paths.log_file(BROKER)}") from None
    queue_url = broker.ensure_queue(SQS_PORT, visibility_timeout=int(environment["AIRFLOW_SQS_VISIBILITY_TIMEOUT"]))
    state = "started" if not running else "already running"
    say(f"  sqs         {state} on {broker.endpoint(SQS_PORT)} ({time.monotonic() - begun:.1f} s)")
    return queue_url


def _restore_backlog(paths: StackPaths, queue_url: str) -> None:
    restored = broker.restore_backlog(SQS_PORT, queue_url, paths.sqs_backlog_file)
    if restored:
        say(f"  sqs         {restored} queued task message(s) from the last `make down` sent again")


def _migrate(paths: StackPaths, environment: dict[str, str]) -> None:
    begun = time.monotonic()
    stamp = paths.stamp_file("migrate")
    if stamps.is_current(stamp, stamps.schema_record(environment)):
        say("  migrate     schema up to date (same Airflow, same revision as the last migrate)")
        return
    with open(paths.log_file("migrate"), "ab") as log:
        result = subprocess.run(
            entrypoint("migrate"),
            env=environment,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=MIGRATE_TIMEOUT_SECONDS,
        )
    if result.returncode != 0:
        raise StackError(f"migrate failed (exit {result.returncode}): see {paths.log_file('migrate')}")
    stamps.write(stamp, stamps.schema_record(environment))
    say(f"  migrate     done ({time.monotonic() - begun:.1f} s)")


def _start_admin_step(paths: StackPaths, environment: dict[str, str]) -> subprocess.Popen | None:
    """Runs beside the components' start; None when the admin login is unchanged."""
    if stamps.is_current(paths.stamp_file("admin"), stamps.admin_record(environment)):
        return None
    return subprocess.Popen(
        entrypoint("create-admin"),
        env=environment,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish_admin_step(paths: StackPaths, environment: dict[str, str], admin: subprocess.Popen | None) -> None:
    user = environment["AIRFLOW_ADMIN_USERNAME"]
    if admin is None:
        say(f"  admin user  {user} unchanged")
        return
    output, _ = admin.communicate(timeout=180)
    if admin.returncode != 0:
        raise StackError(f"creating the admin user failed: {output.strip().splitlines()[-1:]}")
    stamps.write(paths.stamp_file("admin"), stamps.admin_record(environment))
    say(f"  admin user  {user} ready")


def _wait_healthy(paths: StackPaths, environment: dict[str, str], components: list[Component], started: float) -> None:
    waiting = {c.name for c in components}
    deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
    while waiting:
        for name in sorted(waiting):
            if running_pid(paths.pid_file(name)) is None:
                tail = paths.log_file(name).read_text(errors="replace").strip().splitlines()[-1:]
                raise StackError(
                    f"{name} exited during start: {tail[0] if tail else 'no output'} (full log: {paths.log_file(name)})"
                )
            try:
                health.check(name, environment)
            except (health.Unhealthy, ConfigurationError):
                continue
            waiting.discard(name)
            say(f"  {name:<11} healthy ({time.monotonic() - started:.1f} s)")
        if time.monotonic() > deadline:
            raise StackError(
                f"not healthy after {HEALTHY_TIMEOUT_SECONDS} s: {', '.join(sorted(waiting))} (logs in {paths.logs})"
            )
        if waiting:
            time.sleep(0.5)


def down(paths: StackPaths) -> None:
    components = {c.name: c for c in COMPONENTS}
    for name in STOP_ORDER:
        pid_file = paths.pid_file(name)
        if running_pid(pid_file) is not None:
            say(f"  {name:<11} stopping")
        outcome = stop_group(
            pid_file,
            timeout=components[name].stop_timeout,
            on_wait=lambda n=name: say(f"  {n:<11} still stopping (a worker finishes its running tasks first)"),
        )
        if outcome != "not running":
            say(f"  {name:<11} {outcome}")
    if running_pid(paths.pid_file(BROKER)) is not None:
        saved = broker.save_backlog(SQS_PORT, broker.queue_url(SQS_PORT), paths.sqs_backlog_file)
        if saved:
            say(f"  sqs         {saved} queued task message(s) kept for the next `make up`")
        say(f"  sqs         {stop_group(paths.pid_file(BROKER), timeout=10)}")
    if postgres.stop(paths.pgdata):
        say("  postgres    stopped")
    say("Local stack is down.")


def status(paths: StackPaths) -> bool:
    """Print each part's state; True when everything is up and healthy."""
    environment = json.loads(paths.environment_file.read_text()) if paths.environment_file.exists() else {}
    all_healthy = True
    database = postgres.is_running(paths.pgdata)
    all_healthy &= database
    say(f"  {'postgres':<13} {'running' if database else 'stopped'}")
    pid = running_pid(paths.pid_file(BROKER))
    all_healthy &= pid is not None
    say(f"  {'sqs':<13} {f'running (pid {pid})' if pid else 'stopped'}")
    for component in COMPONENTS:
        pid = running_pid(paths.pid_file(component.name))
        if pid is None:
            line, healthy = "stopped", False
        else:
            try:
                line, healthy = f"healthy: {health.check(component.name, environment)}", True
            except (health.Unhealthy, ConfigurationError) as problem:
                line, healthy = f"unhealthy: {problem}", False
            line = f"pid {pid}, {line}"
        all_healthy &= healthy
        say(f"  {component.name:<13} {line}")
    return all_healthy


def logs(paths: StackPaths, component: str | None) -> None:
    names = [component] if component else [c.name for c in COMPONENTS] + [BROKER, "migrate"]
    files = [str(paths.log_file(name)) for name in names if paths.log_file(name).exists()]
    if not files:
        raise StackError(f"no logs yet in {paths.logs}: run `make up` first")
    os.execvp("tail", ["tail", "-n", "20", "-F", *files])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m local_stack", description="The Docker-free local Airflow stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything and wait until healthy")
    sub.add_parser("down", help="stop everything (running tasks finish first)")
    sub.add_parser("status", help="show each part and its health")
    logs_parser = sub.add_parser("logs", help="follow the logs")
    logs_parser.add_argument("component", nargs="?", choices=[c.name for c in COMPONENTS] + [BROKER, "migrate"])
    args = parser.parse_args(argv)
    paths = StackPaths.default()
    try:
        if args.command == "up":
            up(paths)
        elif args.command == "down":
            down(paths)
        elif args.command == "status":
            return 0 if status(paths) else 1
        else:
            logs(paths, args.component)
    except (StackError, PreflightError) as error:
        print(f"local stack: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("local stack: interrupted; `make status` shows what runs, `make down` stops it", file=sys.stderr)
        return 130
    return 0
