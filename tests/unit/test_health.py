"""Health checks against real endpoints, a real database and a real heartbeat file."""

import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path

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


def write_beat(path, *, age=0.0, answered_ago=1.0, **fields):
    """A heartbeat file as the worker's consumer writes it, ``age`` seconds old."""
    now = time.time()
    beat = {"pid": os.getpid(), "phase": "consuming", "answered_at": now - answered_ago, "busy": False, "error": None}
    path.write_text(json.dumps({**beat, **fields}))
    os.utime(path, (now - age, now - age))


def test_worker_heartbeat_healthy_only_while_sqs_answers_its_polls(tmp_path):
    beat = tmp_path / "heartbeat"
    environment = {"AIRFLOW_WORKER_HEARTBEAT_FILE": str(beat), "AIRFLOW_SQS_WAIT_TIME_SECONDS": "20"}
    with pytest.raises(health.Unhealthy, match="no worker heartbeat file"):
        health.check_worker_heartbeat(environment)
    write_beat(beat, answered_ago=3)
    assert health.check_worker_heartbeat(environment) == "SQS answered the consumer's poll 3.0 s ago"
    # The event loop turns (fresh file) but SQS has not answered for longer than the bound (20 + 30 s).
    write_beat(beat, answered_ago=51, error="PollFailed: no answer from SQS (connection refused, ...)")
    with pytest.raises(health.Unhealthy) as unhealthy:
        health.check_worker_heartbeat(environment)
    assert str(unhealthy.value) == (
        "SQS has not answered the consumer's polls for 51 s (bound 50 s): "
        "PollFailed: no answer from SQS (connection refused, ...)"
    )
    # The bound follows the long-poll wait: 5 + 30 s.
    write_beat(beat, answered_ago=40)
    with pytest.raises(health.Unhealthy, match=r"for 40 s \(bound 35 s\)"):
        health.check_worker_heartbeat({**environment, "AIRFLOW_SQS_WAIT_TIME_SECONDS": "5"})
    # Every slot busy: the consumer does not poll by design, and says when it last looked.
    write_beat(beat, answered_ago=0.5, busy=True)
    assert health.check_worker_heartbeat(environment).startswith("every worker slot is busy")


def test_worker_heartbeat_stale_file_means_a_stuck_event_loop(tmp_path):
    beat = tmp_path / "heartbeat"
    write_beat(beat, age=health.HEARTBEAT_THRESHOLD_SECONDS + 5)
    with pytest.raises(health.Unhealthy, match="the consumer's event loop is stuck or gone"):
        health.check_worker_heartbeat({"AIRFLOW_WORKER_HEARTBEAT_FILE": str(beat)})


def test_a_draining_worker_says_so_until_it_has_exited(tmp_path):
    beat = tmp_path / "heartbeat"
    environment = {"AIRFLOW_WORKER_HEARTBEAT_FILE": str(beat)}
    # Draining does not refresh the file: its age does not matter, the process does.
    write_beat(beat, age=300, phase="draining", draining_since=time.time() - 42)
    with pytest.raises(health.Draining, match="warm shutdown for 42 s"):
        health.check_worker_heartbeat(environment)
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_beat(beat, phase="draining", draining_since=time.time(), pid=gone.pid)
    with pytest.raises(
        health.Unhealthy, match=f"the worker that was draining \\(pid {gone.pid}\\) has exited"
    ) as error:
        health.check_worker_heartbeat(environment)
    assert not isinstance(error.value, health.Draining)


def test_an_unreadable_heartbeat_is_unhealthy(tmp_path):
    beat = tmp_path / "heartbeat"
    beat.write_text("not json")
    with pytest.raises(health.Unhealthy, match="is unreadable"):
        health.check_worker_heartbeat({"AIRFLOW_WORKER_HEARTBEAT_FILE": str(beat)})


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
    write_beat(tmp_path / "beat")
    assert health.main(["worker"]) == 0
    assert capsys.readouterr().out.startswith("healthy: SQS answered the consumer's poll")


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


@pytest.fixture
def own_database():
    """A PostgreSQL server of this test's own, which it may stop (the session's server is shared)."""
    import shutil
    import tempfile

    from local_stack import postgres

    home = Path(tempfile.mkdtemp(prefix="pg-stop-test-"))
    port = free_port()
    postgres.start(home / "data", port=port, log_file=home / "server.log")
    yield home, port
    postgres.stop(home / "data")
    shutil.rmtree(home, ignore_errors=True)


def test_job_heartbeat_check_fails_while_the_database_is_stopped_and_recovers(own_database, valid_environment):
    from local_stack import postgres

    home, port = own_database
    valid_environment.update(AIRFLOW_DB_HOST="127.0.0.1", AIRFLOW_DB_PORT=str(port), AIRFLOW_DB_PASSWORD="airflow")
    connection = psycopg2.connect(f"postgresql://airflow:airflow@127.0.0.1:{port}/airflow")
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE job (id serial, job_type varchar(30), state varchar(20), "
            "hostname varchar(500), latest_heartbeat timestamptz)"
        )
        cursor.execute(
            "INSERT INTO job (job_type, state, hostname, latest_heartbeat) VALUES ('TriggererJob', 'running', %s, now())",
            (health.this_hostname(valid_environment),),
        )
    connection.close()
    assert "TriggererJob on" in health.check_job_heartbeat("triggerer", valid_environment)
    postgres.stop(home / "data")
    began = time.monotonic()
    with pytest.raises(health.Unhealthy, match=r"metadata database query failed: .*(refused|could not connect)"):
        health.check_job_heartbeat("triggerer", valid_environment)
    assert time.monotonic() - began < health.DB_TIMEOUT_SECONDS + 1, "a stopped database must fail the check fast"
    postgres.start(home / "data", port=port, log_file=home / "server.log")
    assert "TriggererJob on" in health.check_job_heartbeat("triggerer", valid_environment)
