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
from dataclasses import replace
from pathlib import Path

from deploy_airflow_on_ecs_fargate import contract, health
from deploy_airflow_on_ecs_fargate.contract import Component
from deploy_airflow_on_ecs_fargate.settings import ConfigurationError
from local_stack import broker, postgres, stamps
from local_stack.environment import ExposureError, api_url, check_exposure, component_environment
from local_stack.paths import REPO_ROOT, StackPaths
from local_stack.preflight import PreflightError, ensure_port_free
from local_stack.processes import running_pid, start_detached, stop_group
from local_stack.settings import LocalSettings, LocalSettingsError

HEALTHY_TIMEOUT_SECONDS = 180
MIGRATE_TIMEOUT_SECONDS = 300
ADMIN_TIMEOUT_SECONDS = 180
COMPONENTS = contract.LONG_RUNNING
# Down: first what creates work (the scheduler), last the api-server, whose execution API the
# workers need while they finish their tasks.
STOP_ORDER = sorted(COMPONENTS, key=lambda c: {"scheduler": 0, "api-server": 2}.get(c.name, 1))
BROKER = "sqs"
NAME_WIDTH = max(len(c.name) for c in COMPONENTS)


class StackError(Exception):
    """Something stopped `make up`; the message is one line."""


def say(message: str) -> None:
    print(message, flush=True)


def line(name: str, text: str) -> str:
    return f"  {name:<{NAME_WIDTH}} {text}"


def entrypoint(component: str) -> list[str]:
    return [sys.executable, "-m", contract.PACKAGE, component]


def stop_timeout(component: Component, settings: LocalSettings) -> float:
    return settings.worker_stop_timeout if component.name == "worker" else component.stop_timeout_seconds


def up(paths: StackPaths, settings: LocalSettings) -> None:
    started = time.monotonic()
    paths.create()
    environment = component_environment(paths, settings, os.environ)
    try:
        check_exposure(environment)
    except ExposureError as error:
        raise StackError(str(error)) from None
    to_start = [c for c in COMPONENTS if running_pid(paths.pid_file(c.name)) is None]
    broker_running = running_pid(paths.pid_file(BROKER)) is not None
    _preflight(paths, settings, environment, to_start, broker_running)

    _start_postgres(paths, settings)
    queue_url = _start_broker(paths, settings, environment, broker_running)
    paths.environment_file.write_text(json.dumps(environment))
    paths.environment_file.chmod(0o600)
    paths.settings_file.write_text(json.dumps({"postgres_port": settings.postgres_port, "sqs_port": settings.sqs_port}))

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

    _restore_backlog(paths, settings, queue_url)
    user = environment[contract.ADMIN_USERNAME.name]
    password = environment[contract.ADMIN_PASSWORD.name]
    say(f"Airflow is up in {time.monotonic() - started:.1f} s: {api_url(environment)}  (login {user} / {password})")


def _preflight(
    paths: StackPaths,
    settings: LocalSettings,
    environment: dict[str, str],
    to_start: list[Component],
    broker_running: bool,
) -> None:
    if not postgres.is_running(paths.pgdata):
        ensure_port_free(settings.postgres_port, "the local PostgreSQL (LOCAL_STACK_POSTGRES_PORT)")
    if not broker_running:
        ensure_port_free(settings.sqs_port, "the local SQS emulator (LOCAL_STACK_SQS_PORT)")
    address = environment[contract.LISTEN_ADDRESS.name]
    for component in to_start:
        for port in component.ports:
            ensure_port_free(port.resolve(environment), f"the {component.name} ({port.variable})", address)


def _start_postgres(paths: StackPaths, settings: LocalSettings) -> None:
    begun = time.monotonic()
    try:
        fresh = postgres.start(paths.pgdata, port=settings.postgres_port, log_file=paths.postgres_log)
    except postgres.PostgresError as error:
        raise StackError(str(error)) from None
    state = "started" if fresh else "already running"
    say(line("postgres", f"{state} on 127.0.0.1:{settings.postgres_port} ({time.monotonic() - begun:.1f} s)"))


def _start_broker(paths: StackPaths, settings: LocalSettings, environment: dict[str, str], running: bool) -> str:
    begun = time.monotonic()
    if not running:
        start_detached(
            broker.server_command(sys.executable, settings.sqs_port),
            log_file=paths.log_file(BROKER),
            pid_file=paths.pid_file(BROKER),
            env=environment,
            cwd=paths.home,
        )
    try:
        broker.wait_until_serving(settings.sqs_port)
    except TimeoutError as error:
        raise StackError(f"{error}: see {paths.log_file(BROKER)}") from None
    visibility = int(environment[contract.SQS_VISIBILITY_TIMEOUT.name])
    queue_url = broker.ensure_queue(settings.sqs_port, visibility_timeout=visibility)
    state = "started" if not running else "already running"
    say(line(BROKER, f"{state} on {broker.endpoint(settings.sqs_port)} ({time.monotonic() - begun:.1f} s)"))
    return queue_url


def _restore_backlog(paths: StackPaths, settings: LocalSettings, queue_url: str) -> None:
    restored = broker.restore_backlog(settings.sqs_port, queue_url, paths.sqs_backlog_file)
    if restored:
        say(line(BROKER, f"{restored} queued task message(s) from the last `make down` sent again"))


def _migrate(paths: StackPaths, environment: dict[str, str]) -> None:
    begun = time.monotonic()
    stamp = paths.stamp_file("migrate")
    if stamps.is_current(stamp, stamps.schema_record(environment)):
        say(line("migrate", "schema up to date (same Airflow, same revision as the last migrate)"))
        return
    try:
        with open(paths.log_file("migrate"), "ab") as log:
            result = subprocess.run(
                entrypoint("migrate"),
                env=environment,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=MIGRATE_TIMEOUT_SECONDS,
            )
    except subprocess.TimeoutExpired:
        raise StackError(
            f"migrate did not finish within {MIGRATE_TIMEOUT_SECONDS} s: see {paths.log_file('migrate')}"
        ) from None
    if result.returncode != 0:
        raise StackError(f"migrate failed (exit {result.returncode}): {_last_line(paths.log_file('migrate'))}")
    stamps.write(stamp, stamps.schema_record(environment))
    say(line("migrate", f"done ({time.monotonic() - begun:.1f} s)"))


def _last_line(log_file: Path) -> str:
    lines = log_file.read_text(errors="replace").strip().splitlines() if log_file.exists() else []
    return f"{lines[-1] if lines else 'no output'} (full log: {log_file})"


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
    user = environment[contract.ADMIN_USERNAME.name]
    if admin is None:
        say(line("admin user", f"{user} unchanged"))
        return
    try:
        output, _ = admin.communicate(timeout=ADMIN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        admin.kill()
        raise StackError(f"creating the admin user did not finish within {ADMIN_TIMEOUT_SECONDS} s") from None
    if admin.returncode != 0:
        lines = output.strip().splitlines()
        raise StackError(f"creating the admin user failed: {lines[-1] if lines else f'exit {admin.returncode}'}")
    stamps.write(paths.stamp_file("admin"), stamps.admin_record(environment))
    say(line("admin user", f"{user} ready"))


def _wait_healthy(paths: StackPaths, environment: dict[str, str], components: list[Component], started: float) -> None:
    waiting = {c.name for c in components}
    deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
    while waiting:
        for name in sorted(waiting):
            if running_pid(paths.pid_file(name)) is None:
                raise StackError(f"{name} exited during start: {_last_line(paths.log_file(name))}")
            try:
                health.check(name, environment)
            except (health.Unhealthy, ConfigurationError):
                continue
            waiting.discard(name)
            say(line(name, f"healthy ({time.monotonic() - started:.1f} s)"))
        if time.monotonic() > deadline:
            raise StackError(
                f"not healthy after {HEALTHY_TIMEOUT_SECONDS} s: {', '.join(sorted(waiting))} (logs in {paths.logs})"
            )
        if waiting:
            time.sleep(0.5)


def down(paths: StackPaths, settings: LocalSettings) -> None:
    for component in STOP_ORDER:
        name = component.name
        pid_file = paths.pid_file(name)
        if running_pid(pid_file) is not None:
            say(line(name, "stopping"))
        outcome = stop_group(
            pid_file,
            timeout=stop_timeout(component, settings),
            on_wait=lambda n=name: say(line(n, "still stopping (a worker finishes its running tasks first)")),
        )
        if outcome != "not running":
            say(line(name, outcome))
    if running_pid(paths.pid_file(BROKER)) is not None:
        saved = broker.save_backlog(settings.sqs_port, broker.queue_url(settings.sqs_port), paths.sqs_backlog_file)
        if saved:
            say(line(BROKER, f"{saved} queued task message(s) kept for the next `make up`"))
        say(line(BROKER, stop_group(paths.pid_file(BROKER), timeout=10)))
    if postgres.stop(paths.pgdata):
        say(line("postgres", "stopped"))
    say("Local stack is down.")


def status(paths: StackPaths) -> bool:
    """Print each part's state; True when everything is up and healthy."""
    environment = json.loads(paths.environment_file.read_text()) if paths.environment_file.exists() else {}
    all_healthy = True
    database = postgres.is_running(paths.pgdata)
    all_healthy &= database
    say(line("postgres", "running" if database else "stopped"))
    pid = running_pid(paths.pid_file(BROKER))
    all_healthy &= pid is not None
    say(line(BROKER, f"running (pid {pid})" if pid else "stopped"))
    for component in COMPONENTS:
        pid = running_pid(paths.pid_file(component.name))
        if pid is None:
            text, healthy = "stopped", False
        else:
            try:
                text, healthy = f"healthy: {health.check(component.name, environment)}", True
            except (health.Unhealthy, ConfigurationError) as problem:
                text, healthy = f"unhealthy: {problem}", False
            text = f"pid {pid}, {text}"
        all_healthy &= healthy
        say(line(component.name, text))
    return all_healthy


def logs(paths: StackPaths, component: str | None) -> None:
    names = [component] if component else [*(c.name for c in COMPONENTS), BROKER, "migrate"]
    files = [str(paths.log_file(name)) for name in names if paths.log_file(name).exists()]
    if not files:
        raise StackError(f"no logs yet in {paths.logs}: run `make up` first")
    os.execvp("tail", ["tail", "-n", "20", "-F", *files])


def saved_settings(paths: StackPaths, current: LocalSettings) -> LocalSettings:
    """The ports the running stack was started with (`make down` must reach the same SQS)."""
    try:
        saved = json.loads(paths.settings_file.read_text())
    except (FileNotFoundError, ValueError):
        return current
    return replace(current, postgres_port=saved["postgres_port"], sqs_port=saved["sqs_port"])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m local_stack", description="The Docker-free local Airflow stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything and wait until healthy")
    sub.add_parser("down", help="stop everything (running tasks finish first)")
    sub.add_parser("status", help="show each part and its health")
    logs_parser = sub.add_parser("logs", help="follow the logs")
    logs_parser.add_argument("component", nargs="?", choices=[*(c.name for c in COMPONENTS), BROKER, "migrate"])
    args = parser.parse_args(argv)
    try:
        settings = LocalSettings.from_environment()
        paths = StackPaths(settings.home)
        if args.command == "up":
            up(paths, saved_settings(paths, settings) if _running(paths) else settings)
        elif args.command == "down":
            down(paths, saved_settings(paths, settings))
        elif args.command == "status":
            return 0 if status(paths) else 1
        else:
            logs(paths, args.component)
    except (StackError, PreflightError, LocalSettingsError) as error:
        print(f"local stack: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("local stack: interrupted; `make status` shows what runs, `make down` stops it", file=sys.stderr)
        return 130
    return 0


def _running(paths: StackPaths) -> bool:
    return postgres.is_running(paths.pgdata) or running_pid(paths.pid_file(BROKER)) is not None
