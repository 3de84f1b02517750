"""`make up`, `make down`, `make status`: the local stack's lifecycle.

Up is all or nothing. It first judges everything it can without starting anything (the runtime's
verdict on every component's environment, the user's AIRFLOW__ settings against Airflow's own list,
the DAGs folder, busy ports). Then PostgreSQL, `migrate`, and the supervisor (local_stack.supervisor),
which starts the SQS server and the five components through the same entrypoint the containers use
and keeps them running. When a step fails, up stops what it started and prints one line.

Down asks the supervisor to stop everything in order: what creates work first (scheduler), the
workers finish their running tasks while the api-server (their execution API) is still up, then the
broker's backlog is saved; then PostgreSQL is stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from deploy_airflow_on_ecs_fargate import contract, health
from deploy_airflow_on_ecs_fargate.settings import ConfigurationError
from local_stack import broker, postgres, stamps, supervisor
from local_stack.environment import ExposureError, api_url, check_exposure, component_environment
from local_stack.paths import REPO_ROOT, StackPaths
from local_stack.preflight import PreflightError, ensure_port_free
from local_stack.processes import running_pid
from local_stack.settings import LocalSettings, LocalSettingsError
from local_stack.supervisor import BROKER, COMPONENTS, entrypoint, line
from local_stack.validation import ValidationError, validate

HEALTHY_TIMEOUT_SECONDS = 180
MIGRATE_TIMEOUT_SECONDS = 300
ADMIN_TIMEOUT_SECONDS = 180
# Down: the supervisor's stop sequence (the longest: every component's stop timeout) plus margin.
DOWN_MARGIN_SECONDS = 60

# Exit codes of `python -m local_stack` (`make` itself exits 2 whenever its recipe fails).
EXIT_OK = 0
EXIT_FAILED = 1  # up or down failed, or status found a part stopped or unhealthy
EXIT_INTERRUPTED = 130

__all__ = ["BROKER", "COMPONENTS", "line", "main"]


class StackError(Exception):
    """Something stopped `make up`; the message is one line."""


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Started:
    """What this `make up` started, so that a failure stops exactly that."""

    postgres: bool = False
    supervisor: bool = False


def up(paths: StackPaths, settings: LocalSettings) -> None:
    began, began_wall = time.monotonic(), time.time()
    paths.create()
    environment = component_environment(paths, settings, os.environ)
    running_supervisor = supervisor.is_running(paths)
    if running_supervisor is not None:
        # Everything is supervised already: the supervisor restarts what stopped. Its environment
        # is the one it was started with; `make down` first to change settings.
        _wait_healthy(paths, json.loads(paths.environment_file.read_text()), began, began_wall, fresh=False)
        return
    _judge(paths, settings, environment)
    started = Started()
    try:
        _start(paths, settings, environment, started, began, began_wall)
    except StackError as problem:
        _undo(paths, started)
        raise StackError(f"{problem}; stopped what this `make up` had started") from None
    except KeyboardInterrupt:
        _undo(paths, started)
        raise KeyboardInterrupt("stopped what this `make up` had started") from None


def _judge(paths: StackPaths, settings: LocalSettings, environment: dict[str, str]) -> None:
    """Everything that can be checked before anything starts; raise with the first problem."""
    try:
        check_exposure(environment)
        validate(environment, os.environ)
    except (ExposureError, ValidationError) as error:
        raise StackError(f"{error}; nothing was started") from None
    if not postgres.is_running(paths.pgdata):
        ensure_port_free(settings.postgres_port, "the local PostgreSQL (LOCAL_STACK_POSTGRES_PORT)")
    if running_pid(paths.pid_file(BROKER)) is None:
        ensure_port_free(settings.sqs_port, "the local SQS emulator (LOCAL_STACK_SQS_PORT)")
    address = environment[contract.LISTEN_ADDRESS.name]
    for component in COMPONENTS:
        if running_pid(paths.pid_file(component.name)) is None:
            for port in component.ports:
                ensure_port_free(port.resolve(environment), f"the {component.name} ({port.variable})", address)


def _start(
    paths: StackPaths,
    settings: LocalSettings,
    environment: dict[str, str],
    started: Started,
    began: float,
    began_wall: float,
) -> None:
    _start_postgres(paths, settings, started)
    paths.environment_file.write_text(json.dumps(environment))
    paths.environment_file.chmod(0o600)
    paths.settings_file.write_text(json.dumps({"postgres_port": settings.postgres_port, "sqs_port": settings.sqs_port}))
    _migrate(paths, environment)
    admin = _start_admin_step(paths, environment)
    try:
        supervisor.start(paths, dict(os.environ))
        started.supervisor = True
        _wait_broker(paths, settings)
        _wait_healthy(paths, environment, began, began_wall, fresh=True)
        _finish_admin_step(paths, environment, admin)
    finally:
        if admin is not None and admin.poll() is None:
            admin.kill()
    _restore_backlog(paths, settings)
    user = environment[contract.ADMIN_USERNAME.name]
    password = environment[contract.ADMIN_PASSWORD.name]
    say(f"Airflow is up in {time.monotonic() - began:.1f} s: {api_url(environment)}  (login {user} / {password})")


def _undo(paths: StackPaths, started: Started) -> None:
    pid = supervisor.is_running(paths)
    if (
        started.supervisor
        and pid is not None
        and not supervisor.relay_until_stopped(
            paths, pid, lambda text: None, timeout=_down_timeout(LocalSettings.from_environment())
        )
    ):
        print(f"local stack: the supervisor did not stop: see {paths.log_file('supervisor')}", file=sys.stderr)
    if started.postgres:
        postgres.stop(paths.pgdata)


def _start_postgres(paths: StackPaths, settings: LocalSettings, started: Started) -> None:
    begun = time.monotonic()
    try:
        fresh = postgres.start(paths.pgdata, port=settings.postgres_port, log_file=paths.postgres_log)
    except postgres.PostgresError as error:
        raise StackError(str(error)) from None
    started.postgres = fresh
    state = "started" if fresh else "already running"
    say(line("postgres", f"{state} on 127.0.0.1:{settings.postgres_port} ({time.monotonic() - begun:.1f} s)"))


def _wait_broker(paths: StackPaths, settings: LocalSettings) -> None:
    begun = time.monotonic()
    try:
        broker.wait_until_serving(settings.sqs_port, timeout=30)
    except TimeoutError as error:
        raise StackError(f"{error}: see {paths.log_file(BROKER)}") from None
    say(line(BROKER, f"serving on {broker.endpoint(settings.sqs_port)} ({time.monotonic() - begun:.1f} s)"))


def _restore_backlog(paths: StackPaths, settings: LocalSettings) -> None:
    url = broker.queue_url(settings.sqs_port)
    restored = broker.restore_backlog(settings.sqs_port, url, paths.sqs_backlog_file)
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


def _exit_since(paths: StackPaths, name: str, since_wall: float) -> dict | None:
    part = supervisor.state(paths).get("parts", {}).get(name) or {}
    last = part.get("last_exit")
    return last if last and last.get("at", 0) >= since_wall else None


def _wait_healthy(
    paths: StackPaths, environment: dict[str, str], began: float, began_wall: float, *, fresh: bool
) -> None:
    """Until every component's health check passes. On a fresh start a component that exits fails
    `make up` at once (with the last line of its log); on a running stack the supervisor restarts it."""
    names = {c.name for c in COMPONENTS}
    was_running = {name for name in names if running_pid(paths.pid_file(name)) is not None}
    waiting = set(names)
    deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
    while waiting:
        if supervisor.is_running(paths) is None:
            raise StackError(f"the supervisor exited: {_last_line(paths.log_file('supervisor'))}")
        for name in sorted(waiting):
            exit_ = _exit_since(paths, name, began_wall) if fresh else None
            if exit_ is not None:
                raise StackError(
                    f"{name} exited during start (exit code {exit_.get('code')}): {_last_line(paths.log_file(name))}"
                )
            try:
                health.check(name, environment)
            except (health.Unhealthy, ConfigurationError):
                continue
            waiting.discard(name)
            if fresh or name not in was_running:
                say(line(name, f"healthy ({time.monotonic() - began:.1f} s)"))
        if time.monotonic() > deadline:
            raise StackError(
                f"not healthy after {HEALTHY_TIMEOUT_SECONDS} s: {', '.join(sorted(waiting))} (logs in {paths.logs})"
            )
        if waiting:
            time.sleep(0.5)
    if not fresh and was_running == names:
        say("  every component was already running")


def _down_timeout(settings: LocalSettings) -> float:
    return sum(supervisor.stop_timeout(c.name, settings) for c in COMPONENTS) + DOWN_MARGIN_SECONDS


def down(paths: StackPaths, settings: LocalSettings) -> None:
    pid = supervisor.is_running(paths)
    if pid is not None and not supervisor.relay_until_stopped(paths, pid, say, timeout=_down_timeout(settings)):
        raise StackError(f"the supervisor did not stop: see {paths.log_file('supervisor')}")
    # No supervisor (it died, or the stack predates it): stop what is left directly.
    supervisor.stop_all(paths, settings, lambda name, text: say(line(name, text)))
    paths.supervisor_state_file.unlink(missing_ok=True)
    if postgres.stop(paths.pgdata):
        say(line("postgres", "stopped"))
    say("Local stack is down.")


def status(paths: StackPaths) -> bool:
    """Print each part's state; True when everything is up and healthy."""
    environment = json.loads(paths.environment_file.read_text()) if paths.environment_file.exists() else {}
    supervised = supervisor.state(paths).get("parts", {})
    all_healthy = True
    database = postgres.is_running(paths.pgdata)
    all_healthy &= database
    say(line("postgres", "running" if database else "stopped"))
    pid = supervisor.is_running(paths)
    all_healthy &= pid is not None
    say(line("supervisor", f"running (pid {pid})" if pid else "stopped: nothing restarts a part that stops"))
    pid = running_pid(paths.pid_file(BROKER))
    all_healthy &= pid is not None
    say(line(BROKER, f"running (pid {pid}){_restarts(supervised.get(BROKER))}" if pid else "stopped"))
    for component in COMPONENTS:
        pid = running_pid(paths.pid_file(component.name))
        if pid is None:
            text, healthy = "stopped", False
        else:
            try:
                text, healthy = f"healthy: {health.check(component.name, environment)}", True
            except health.Draining as state:
                text, healthy = f"draining: {state}", False
            except (health.Unhealthy, ConfigurationError) as problem:
                text, healthy = f"unhealthy: {problem}", False
            text = f"pid {pid}, {text}"
        all_healthy &= healthy
        say(line(component.name, text + _restarts(supervised.get(component.name))))
    return all_healthy


def _restarts(part: dict | None) -> str:
    if not part or not part.get("restarts"):
        return ""
    last = part.get("last_exit") or {}
    ago = time.time() - last.get("at", time.time())
    return f" (restarted {part['restarts']}x, last {ago:.0f} s ago: {last.get('why')}, exit code {last.get('code')})"


def logs(paths: StackPaths, component: str | None) -> None:
    names = [component] if component else [*(c.name for c in COMPONENTS), BROKER, "supervisor", "migrate"]
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
    sub.add_parser("up", help="check the settings, start everything and wait until healthy (all or nothing)")
    sub.add_parser("down", help="stop everything (running tasks finish first)")
    sub.add_parser("status", help="show each part and its health (exit 1 if any is stopped or unhealthy)")
    sub.add_parser("supervise", help=argparse.SUPPRESS)
    logs_parser = sub.add_parser("logs", help="follow the logs")
    logs_parser.add_argument(
        "component", nargs="?", choices=[*(c.name for c in COMPONENTS), BROKER, "supervisor", "migrate"]
    )
    args = parser.parse_args(argv)
    try:
        settings = LocalSettings.from_environment()
        paths = StackPaths(settings.home)
        if args.command == "up":
            up(paths, saved_settings(paths, settings) if _running(paths) else settings)
        elif args.command == "down":
            down(paths, saved_settings(paths, settings))
        elif args.command == "status":
            return EXIT_OK if status(paths) else EXIT_FAILED
        elif args.command == "supervise":
            return supervisor.main(paths, saved_settings(paths, settings))
        else:
            logs(paths, args.component)
    except (StackError, PreflightError, LocalSettingsError) as error:
        print(f"local stack: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as interrupt:
        done = str(interrupt) or "`make status` shows what runs, `make down` stops it"
        print(f"local stack: interrupted; {done}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _running(paths: StackPaths) -> bool:
    return (
        postgres.is_running(paths.pgdata)
        or running_pid(paths.pid_file(BROKER)) is not None
        or supervisor.is_running(paths) is not None
    )
