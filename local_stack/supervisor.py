"""The local stack's supervisor: for local processes, what ECS does for the containers.

`make up` starts one per stack (detached, `run/supervisor.pid`, `logs/supervisor.log`). It starts the
SQS server, then the five components, each in a session of its own, and then, twice a second:

- restarts a part whose main process exited, after a backoff of 1 s doubling to 60 s, back to 1 s
  once the part has been up for 60 s (ECS restarts a service's stopped task, throttled likewise);
- checks each part's health every 10 s, with the containers' own check, and replaces a component
  after 3 failures in a row, counted once it has been healthy or its 120 s start period is over
  (ECS's rules at a local pace); a worker in its warm shutdown is waited for, up to its stop timeout;
- kills whatever a part leaves behind when its main process dies: a killed worker's task processes
  (Airflow runs each task in a process group of its own) and their shells (in sessions of their
  own). On Linux the supervisor is a child subreaper, so every orphan of every part becomes its
  child and is killed within half a second: a killed worker's task cannot finish its side effect
  unseen and then run again as a retry (on ECS a stopped task takes all its processes with it);
- writes what it did to `run/supervisor.json`, which `make status` and `make up` read.

SIGTERM (`make down`) stops the components in order (the scheduler first; workers finish their
running tasks while the api-server, their execution API, still runs; the api-server last), keeps
the queued messages for the next `make up`, stops the SQS server and exits, killing every process
left. PostgreSQL is not its child: like RDS it is a service the stack uses, its postmaster restarts
its own crashed backends, `make up` starts it and `make down` stops it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from deploy_airflow_on_ecs_fargate import contract, health
from deploy_airflow_on_ecs_fargate.settings import ConfigurationError
from local_stack import broker
from local_stack.paths import REPO_ROOT, StackPaths
from local_stack.processes import Tree, forget, running_pid, start_detached, stop_group
from local_stack.settings import LocalSettings

TICK_SECONDS = 0.5
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
# Up this long, a part's next failure starts the backoff from the beginning again.
BACKOFF_RESET_SECONDS = 60.0
# The containers' health rules (contract.py) at a local pace: the interval is 10 s instead of 30 s,
# so a dead component is replaced in about 30 s instead of 90.
HEALTH_INTERVAL_SECONDS = 10.0
HEALTH_RETRIES = contract.HEALTH_RETRIES
HEALTH_START_PERIOD_SECONDS = contract.HEALTH_START_PERIOD_SECONDS
BROKER = "sqs"
COMPONENTS = contract.LONG_RUNNING
# Down: first what creates work (the scheduler), last the api-server, whose execution API the
# workers need while they finish their tasks.
STOP_ORDER = sorted(COMPONENTS, key=lambda c: {"scheduler": 0, "api-server": 2}.get(c.name, 1))
NAME_WIDTH = max(len(c.name) for c in COMPONENTS)
BROKER_STOP_SECONDS = 10
_PR_SET_CHILD_SUBREAPER = 36


def line(name: str, text: str) -> str:
    return f"  {name:<{NAME_WIDTH}} {text}"


def entrypoint(component: str) -> list[str]:
    return [sys.executable, "-m", contract.PACKAGE, component]


def broker_command(paths: StackPaths, port: int) -> list[str]:
    return broker.server_command(sys.executable, port, paths.sqs_journal_file)


def stop_timeout(name: str, settings: LocalSettings) -> float:
    if name == BROKER:
        return BROKER_STOP_SECONDS
    return settings.worker_stop_timeout if name == "worker" else contract.component(name).stop_timeout_seconds


def become_subreaper() -> bool:
    """Orphans of our descendants become our children (Linux), so none escapes unseen."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


@dataclass
class Part:
    """One supervised process: the SQS server or a component."""

    name: str
    command: list[str]
    stop_timeout: float
    check: Callable[[], str]
    pid: int | None = None
    started_at: float = 0.0
    starts: int = 0
    restarts: int = 0
    healthy_once: bool = False
    failures: int = 0
    health: str = "not checked yet"
    healthy: bool = False
    checked_at: float = 0.0
    # The process the last check looked at: a result about a process that has since been replaced
    # must not count for its successor.
    checked_pid: int | None = None
    evaluated_at: float = 0.0
    backoff: float = BACKOFF_FIRST_SECONDS
    restart_at: float | None = None
    stopping_since: float | None = None
    stop_deadline: float | None = None
    draining: bool = False
    last_exit: dict | None = None
    leftovers_killed: int = 0
    tree: Tree = field(default_factory=Tree)


class Supervisor:
    def __init__(
        self,
        paths: StackPaths,
        settings: LocalSettings,
        environment: dict[str, str],
        parts: list[Part] | None = None,
    ):
        self.paths = paths
        self.settings = settings
        self.environment = environment
        self.stopping = False
        self.orphans_killed = 0
        self.codes: dict[int, int] = {}
        self.subreaper = False
        self.written = ""
        chosen = self.stack_parts() if parts is None else parts
        self.parts: dict[str, Part] = {part.name: part for part in chosen}

    def stack_parts(self) -> list[Part]:
        """The SQS server, then the five components (started in this order)."""
        parts = [
            Part(
                BROKER,
                broker_command(self.paths, self.settings.sqs_port),
                stop_timeout(BROKER, self.settings),
                functools.partial(_check_broker, self.settings.sqs_port),
            )
        ]
        for component in COMPONENTS:
            name = component.name
            parts.append(
                Part(
                    name,
                    entrypoint(name),
                    stop_timeout(name, self.settings),
                    functools.partial(health.check, name, self.environment),
                )
            )
        return parts

    # -- logging ---------------------------------------------------------------------------------

    def log(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", flush=True)

    def progress(self, name: str, text: str) -> None:
        """A line `make down` relays to its own output."""
        print(line(name, text), flush=True)

    # -- starting ------------------------------------------------------------------------------

    def start(self, part: Part) -> None:
        pid_file = self.paths.pid_file(part.name)
        adopted = running_pid(pid_file)
        if adopted is not None:
            # Started by an earlier supervisor: watched by its pid file, restarted here when it exits.
            part.pid = adopted
            self.log(f"{part.name}: already running (pid {adopted}), watching it")
        else:
            cwd = self.paths.home if part.name == BROKER else REPO_ROOT
            part.pid = start_detached(
                part.command, log_file=self.paths.log_file(part.name), pid_file=pid_file, env=self.environment, cwd=cwd
            )
            part.starts += 1
            if part.starts > 1:
                part.restarts += 1
                self.log(f"{part.name}: restarted (pid {part.pid}), restart {part.restarts}")
        part.started_at = time.monotonic()
        part.restart_at = part.stopping_since = part.stop_deadline = None
        part.healthy_once = part.healthy = part.draining = False
        part.failures = 0
        part.health = "starting"
        part.tree = Tree()
        part.tree.record(part.pid)

    def start_broker(self) -> None:
        part = self.parts[BROKER]
        self.start(part)
        try:
            broker.wait_until_serving(self.settings.sqs_port)
            visibility = int(self.environment[contract.SQS_VISIBILITY_TIMEOUT.name])
            broker.ensure_queue(self.settings.sqs_port, visibility_timeout=visibility)
        except Exception as error:  # the next tick sees the exit, or the health check the silence
            self.log(f"{BROKER}: not serving yet: {error}")

    # -- watching --------------------------------------------------------------------------------

    def reap(self) -> None:
        """Collect every child that exited: parts (their exit codes) and adopted orphans."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.codes[pid] = os.waitstatus_to_exitcode(status)

    def exited(self, part: Part) -> None:
        now = time.monotonic()
        code = self.codes.pop(part.pid, None) if part.pid else None
        leftovers = part.tree.kill()
        part.leftovers_killed += leftovers
        up_for = now - part.started_at
        replaced = part.stopping_since is not None
        if part.draining:
            why = "warm shutdown"
        elif replaced:
            why = "replaced: unhealthy"
        else:
            why = "exited cleanly" if code == 0 else "exited"
        part.last_exit = {"code": code, "at": time.time(), "after_seconds": round(up_for, 1), "why": why}
        if up_for >= BACKOFF_RESET_SECONDS and part.healthy_once:
            part.backoff = BACKOFF_FIRST_SECONDS
        delay = BACKOFF_FIRST_SECONDS if replaced else part.backoff
        if not replaced:
            part.backoff = min(BACKOFF_MAX_SECONDS, part.backoff * 2)
        killed = f"; {leftovers} process(es) it left were killed" if leftovers else ""
        self.log(
            f"{part.name}: pid {part.pid} exited (code {code}) after {up_for:.0f} s{killed}; restarting in {delay:.0f} s"
        )
        self.paths.pid_file(part.name).unlink(missing_ok=True)
        if part.pid is not None:
            forget(part.pid)
        part.pid = None
        part.healthy = False
        part.health = f"exited (code {code}), restarting"
        part.restart_at = now + delay

    def evaluate_health(self, part: Part) -> None:
        if part.pid is None or part.checked_pid != part.pid or part.checked_at <= part.evaluated_at:
            return
        part.evaluated_at = part.checked_at
        now = time.monotonic()
        if part.draining:
            if part.stop_deadline is None:
                part.stop_deadline = now + part.stop_timeout
                part.stopping_since = now
                self.log(
                    f"{part.name}: draining (warm shutdown); waiting up to {part.stop_timeout:.0f} s for it to exit"
                )
            return
        if part.healthy:
            part.healthy_once = True
            part.failures = 0
            return
        in_start_period = not part.healthy_once and now - part.started_at < HEALTH_START_PERIOD_SECONDS
        if in_start_period or part.stopping_since is not None:
            return
        part.failures += 1
        self.log(f"{part.name}: health check failed ({part.failures}/{HEALTH_RETRIES}): {part.health}")
        if part.failures >= HEALTH_RETRIES:
            self.replace(part)

    def replace(self, part: Part) -> None:
        """What ECS does with an unhealthy task: stop it (SIGTERM, then SIGKILL) and start another."""
        assert part.pid is not None
        now = time.monotonic()
        self.log(f"{part.name}: unhealthy {HEALTH_RETRIES} times in a row: stopping pid {part.pid} to replace it")
        part.stopping_since = now
        part.stop_deadline = now + part.stop_timeout
        with contextlib.suppress(ProcessLookupError):
            os.kill(part.pid, signal.SIGTERM)

    def sweep_orphans(self) -> None:
        """Kill every child that is not a part's main process: an orphan some part left behind."""
        leaders = {part.pid for part in self.parts.values() if part.pid}
        for pid in children() - leaders:
            orphans = Tree()
            orphans.record(pid)
            killed = orphans.kill()
            if killed:
                self.orphans_killed += killed
                self.log(f"killed {killed} orphaned process(es) left by a part (pid {pid} and its children)")

    def tick(self) -> None:
        self.reap()
        now = time.monotonic()
        for part in self.parts.values():
            if part.pid is not None:
                if running_pid(self.paths.pid_file(part.name)) is None:
                    self.exited(part)
                else:
                    if not self.subreaper:
                        # Without a subreaper, what a part started is only known while it runs.
                        part.tree.record(part.pid)
                    self.evaluate_health(part)
                    if part.stop_deadline is not None and now > part.stop_deadline:
                        self.log(f"{part.name}: still running {part.stop_timeout:.0f} s after SIGTERM: killing it")
                        part.tree.record(part.pid)
                        part.tree.kill()
            if part.pid is None and part.restart_at is not None and now >= part.restart_at and not self.stopping:
                if part.name == BROKER:
                    self.start_broker()
                else:
                    self.start(part)
        self.sweep_orphans()
        self.write_state()

    def check_health_forever(self) -> None:
        """Thread: run every part's health check, one after another, every 10 s."""
        while not self.stopping:
            for part in list(self.parts.values()):
                pid = part.pid
                if pid is None or self.stopping:
                    continue
                try:
                    text, healthy, draining = part.check(), True, False
                except health.Draining as state:
                    text, healthy, draining = str(state), False, True
                except (health.Unhealthy, ConfigurationError) as problem:
                    text, healthy, draining = str(problem), False, False
                except Exception as error:
                    text, healthy, draining = f"health check failed: {error}", False, False
                if part.pid != pid:
                    continue  # replaced while it was being checked
                part.health, part.healthy, part.draining = text, healthy, draining
                part.checked_pid, part.checked_at = pid, time.monotonic()
            time.sleep(HEALTH_INTERVAL_SECONDS)

    def write_state(self) -> None:
        now_mono, now = time.monotonic(), time.time()
        state: dict = {
            "pid": os.getpid(),
            "orphans_killed": self.orphans_killed,
            "stopping": self.stopping,
            "parts": {
                part.name: {
                    "pid": part.pid,
                    "starts": part.starts,
                    "restarts": part.restarts,
                    "healthy": part.healthy,
                    "health": part.health,
                    "draining": part.draining,
                    "failures": part.failures,
                    "last_exit": part.last_exit,
                    "leftovers_killed": part.leftovers_killed,
                    "restart_at": None if part.restart_at is None else now + part.restart_at - now_mono,
                }
                for part in self.parts.values()
            },
        }
        text = json.dumps(state)
        if text == self.written:
            return
        partial = self.paths.supervisor_state_file.with_suffix(".partial")
        partial.write_text(text)
        partial.replace(self.paths.supervisor_state_file)
        self.written = text

    # -- the whole life --------------------------------------------------------------------------

    def run(self) -> int:
        def request_stop(signum, frame):
            self.stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self.subreaper = become_subreaper()
        self.log(f"supervisor pid {os.getpid()} started{' (child subreaper)' if self.subreaper else ''}")
        for part in self.parts.values():
            if part.name == BROKER:
                self.start_broker()
            else:
                self.start(part)
        self.write_state()
        threading.Thread(target=self.check_health_forever, daemon=True).start()
        while not self.stopping:
            try:
                self.tick()
            except Exception as error:  # a supervisor that dies supervises nothing
                self.log(f"supervisor tick failed: {type(error).__name__}: {error}")
            time.sleep(TICK_SECONDS)
        self.stop_everything()
        return 0

    def stop_everything(self) -> None:
        self.log("stopping every part (SIGTERM)")
        self.write_state()
        stop_all(self.paths, self.settings, self.progress, on_tick=self.housekeeping)
        for part in self.parts.values():  # any part stop_all does not know
            stop_group(self.paths.pid_file(part.name), timeout=part.stop_timeout, on_tick=self.housekeeping)
        self.reap()
        self.sweep_orphans()
        self.paths.supervisor_state_file.unlink(missing_ok=True)
        self.log("stopped")

    def housekeeping(self) -> None:
        self.reap()
        self.sweep_orphans()


def children() -> set[int]:
    """This process's children. Linux lists them per thread in /proc, which costs far less than
    psutil's scan of every process (the supervisor looks twice a second)."""
    found: set[int] = set()
    try:
        for task in Path("/proc/self/task").iterdir():
            found.update(int(pid) for pid in (task / "children").read_text().split())
        return found
    except OSError:
        try:
            return {child.pid for child in psutil.Process().children()}
        except psutil.Error:
            return found


def _check_broker(port: int) -> str:
    try:
        broker.wait_until_serving(port, timeout=3)
    except TimeoutError as error:
        raise health.Unhealthy(str(error)) from None
    return f"SQS emulator answers on {broker.endpoint(port)}"


def stop_all(paths: StackPaths, settings: LocalSettings, say: Callable[[str, str], None], on_tick=None) -> None:
    """Stop the components in order, keep the queued messages, stop the SQS server. Used by the
    supervisor on SIGTERM and by `make down` when no supervisor runs."""
    for component in STOP_ORDER:
        name = component.name
        pid_file = paths.pid_file(name)
        if running_pid(pid_file) is not None:
            say(name, "stopping")
        outcome = stop_group(
            pid_file,
            timeout=stop_timeout(name, settings),
            on_wait=lambda n=name: say(n, "still stopping (a worker finishes its running tasks first)"),
            on_tick=on_tick,
        )
        if outcome != "not running":
            say(name, outcome)
    if running_pid(paths.pid_file(BROKER)) is not None:
        try:
            saved = broker.save_backlog(settings.sqs_port, broker.queue_url(settings.sqs_port), paths.sqs_backlog_file)
        except Exception as error:
            say(BROKER, f"could not save the queued messages ({error}); the journal keeps them")
        else:
            if saved:
                say(BROKER, f"{saved} queued task message(s) kept for the next `make up`")
        say(BROKER, stop_group(paths.pid_file(BROKER), timeout=BROKER_STOP_SECONDS, on_tick=on_tick))


def state(paths: StackPaths) -> dict:
    """What the running supervisor last wrote ({} when none runs)."""
    try:
        return json.loads(paths.supervisor_state_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def main(paths: StackPaths, settings: LocalSettings) -> int:
    environment = json.loads(paths.environment_file.read_text())
    return Supervisor(paths, settings, environment).run()


def supervisor_command(python: str = sys.executable) -> list[str]:
    return [python, "-m", "local_stack", "supervise"]


def is_running(paths: StackPaths) -> int | None:
    return running_pid(paths.pid_file("supervisor"))


def start(paths: StackPaths, user_environ: dict[str, str]) -> int:
    """Start the supervisor detached; it outlives `make up`."""
    return start_detached(
        supervisor_command(),
        log_file=paths.log_file("supervisor"),
        pid_file=paths.pid_file("supervisor"),
        env={**user_environ, "LOCAL_STACK_HOME": str(paths.home)},
        cwd=REPO_ROOT,
    )


def relay_until_stopped(paths: StackPaths, pid: int, say: Callable[[str], None], timeout: float) -> bool:
    """Send SIGTERM and print the supervisor's progress lines until it exits; False on timeout."""
    log_file = paths.log_file("supervisor")
    offset = log_file.stat().st_size if log_file.exists() else 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        alive = running_pid(paths.pid_file("supervisor")) is not None
        offset = _relay(log_file, offset, say)
        if not alive:
            paths.pid_file("supervisor").unlink(missing_ok=True)
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def _relay(log_file: Path, offset: int, say: Callable[[str], None]) -> int:
    try:
        with open(log_file, "rb") as log:
            log.seek(offset)
            data = log.read()
    except FileNotFoundError:
        return offset
    complete = data.rfind(b"\n") + 1
    for text in data[:complete].decode(errors="replace").splitlines():
        if text.startswith("  "):
            say(text)
    return offset + complete
