"""Health checks against real endpoints, a real database and a real heartbeat file."""

import http.server
import os
import threading
import time

import psycopg2
import pytest

from deploy_airflow_on_ecs_fargate import health
from tests.conftest import free_port


@pytest.fixture
def http_server():
    """An HTTP server whose status code the test chooses."""
    status = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/health", status
    server.shutdown()


def test_http_check_passes_on_200_and_fails_otherwise(http_server):
    url, status = http_server
    assert health.check_http(url) == f"{url} answered 200"
    status["code"] = 503
    with pytest.raises(health.Unhealthy, match="answered HTTP 503"):
        health.check_http(url)


def test_http_check_fails_when_nothing_listens():
    with pytest.raises(health.Unhealthy, match="did not answer"):
        health.check_http(f"http://127.0.0.1:{free_port()}/health")


def test_worker_heartbeat_fresh_stale_and_missing(tmp_path):
    beat = tmp_path / "heartbeat"
    environment = {"AIRFLOW_WORKER_HEARTBEAT_FILE": str(beat)}
    with pytest.raises(health.Unhealthy, match="no worker heartbeat file"):
        health.check_worker_heartbeat(environment)
    beat.touch()
    assert health.check_worker_heartbeat(environment).startswith("worker heartbeat 0.")
    stale = time.time() - health.HEARTBEAT_THRESHOLD_SECONDS - 5
    os.utime(beat, (stale, stale))
    with pytest.raises(health.Unhealthy, match="the consumer loop is stuck or gone"):
        health.check_worker_heartbeat(environment)


@pytest.fixture
def job_table(postgres_port, valid_environment):
    """Airflow's job table (the columns the check reads) in a real PostgreSQL."""
    connection = psycopg2.connect(f"postgresql://airflow:airflow@127.0.0.1:{postgres_port}/airflow")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS job")
        cursor.execute(
            "CREATE TABLE job (id serial, job_type varchar(30), state varchar(20), "
            "hostname varchar(500), latest_heartbeat timestamptz)"
        )
    valid_environment.update(
        AIRFLOW_DB_HOST="127.0.0.1", AIRFLOW_DB_PORT=str(postgres_port), AIRFLOW_DB_PASSWORD="airflow"
    )

    def add(job_type, age_seconds, hostname=None, state="running"):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO job (job_type, state, hostname, latest_heartbeat) "
                "VALUES (%s, %s, %s, now() - make_interval(secs => %s))",
                (job_type, state, hostname or health.this_hostname(valid_environment), age_seconds),
            )

    yield add
    connection.close()


def test_triggerer_is_healthy_only_with_a_recent_heartbeat_on_this_host(job_table, valid_environment):
    with pytest.raises(health.Unhealthy, match="no running TriggererJob on host"):
        health.check_job_heartbeat("triggerer", valid_environment)
    job_table("TriggererJob", 2, hostname="another-task.ec2.internal")
    job_table("TriggererJob", 3, state="success")
    with pytest.raises(health.Unhealthy, match="no running TriggererJob"):
        health.check_job_heartbeat("triggerer", valid_environment)
    job_table("TriggererJob", 120)
    with pytest.raises(health.Unhealthy, match="last heartbeat 120 s ago"):
        health.check_job_heartbeat("triggerer", valid_environment)
    job_table("TriggererJob", 1)
    assert "TriggererJob on" in health.check_job_heartbeat("triggerer", valid_environment)


def test_dag_processor_check_reads_its_own_job_type(job_table, valid_environment):
    job_table("TriggererJob", 1)
    with pytest.raises(health.Unhealthy, match="no running DagProcessorJob"):
        health.check_job_heartbeat("dag-processor", valid_environment)
    job_table("DagProcessorJob", 1)
    assert "DagProcessorJob on" in health.check_job_heartbeat("dag-processor", valid_environment)


def test_unreachable_database_is_unhealthy(valid_environment):
    valid_environment.update(AIRFLOW_DB_HOST="127.0.0.1", AIRFLOW_DB_PORT=str(free_port()))
    with pytest.raises(health.Unhealthy, match="metadata database query failed"):
        health.check_job_heartbeat("triggerer", valid_environment)


def test_command_line_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_WORKER_HEARTBEAT_FILE", str(tmp_path / "beat"))
    assert health.main(["worker"]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: no worker heartbeat file")
    (tmp_path / "beat").touch()
    assert health.main(["worker"]) == 0
    assert capsys.readouterr().out.startswith("healthy: worker heartbeat")


def test_a_component_bound_to_one_address_records_it_as_its_host(job_table, valid_environment):
    # The local stack binds 127.0.0.1; Airflow then records that address (settings.py), and the
    # job-heartbeat check must look for the same name.
    valid_environment["AIRFLOW_LISTEN_ADDRESS"] = "127.0.0.1"
    assert health.this_hostname(valid_environment) == "127.0.0.1"
    job_table("TriggererJob", 1, hostname="127.0.0.1")
    assert "TriggererJob on 127.0.0.1 heartbeat" in health.check_job_heartbeat("triggerer", valid_environment)


def test_http_checks_follow_the_port_and_listen_address_variables(http_server):
    url, _ = http_server
    port = url.split(":")[2].split("/")[0]
    # The scheduler's health server moved by its Airflow option, bound to loopback only.
    environment = {
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": port,
        "AIRFLOW_LISTEN_ADDRESS": "127.0.0.1",
    }
    assert health.check("scheduler", environment) == f"http://127.0.0.1:{port}/health answered 200"
    # Bound to every interface: checked through loopback.
    environment["AIRFLOW_LISTEN_ADDRESS"] = "0.0.0.0"
    assert health.check("scheduler", environment) == f"http://127.0.0.1:{port}/health answered 200"
    with pytest.raises(health.Unhealthy, match="did not answer"):
        health.check("scheduler", {"AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port())})
