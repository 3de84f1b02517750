"""build/images/: the parts of the podman tooling that need no podman (make image-smoke runs the rest)."""

from __future__ import annotations

import io
import json
import re
import sysconfig
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from build import podman_image
from build.images import base_standin, commands, compose_pod, image_build, layer_scan, lock, postgres, stack
from deploy_airflow_on_ecs_fargate import contract

from .helpers import DEV_CONTAINERFILE, PROD_CONTAINERFILE, ROOT, tool

# A certificate body as PEM wraps it: 64 base64 characters a line.
CERT_LINES = [f"{index:02d}" + "QUJD" * 15 + "AB" for index in range(6)]
PEM = "-----BEGIN CERTIFICATE-----\n" + "\n".join(CERT_LINES) + "\n-----END CERTIFICATE-----\n"


@pytest.fixture(scope="module")
def services() -> dict:
    resolved = tool("docker-compose"), "--file", str(ROOT / "docker-compose.yml"), "config", "--format", "json"
    return json.loads(commands.run(resolved).stdout)["services"]


def test_locked_versions_keep_every_marker_dependent_pin(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# exported by uv\n"
        "Apache_Airflow==3.3.2 \\\n    --hash=sha256:abc\n"
        "soupsieve==2.5 ; python_full_version < '3.11.4' \\\n    --hash=sha256:def\n"
        "soupsieve==2.7 ; python_full_version >= '3.11.4'\n"
        "    # via beautifulsoup4\n"
    )
    assert lock.locked_versions(requirements) == {"apache-airflow": {"3.3.2"}, "soupsieve": {"2.5", "2.7"}}


def test_the_lock_pins_one_airflow_version():
    # The smoke check compares `airflow version` with it: exactly one version must be locked.
    assert len(lock.locked_versions()["apache-airflow"]) == 1


def test_a_locally_added_ca_is_found_in_a_layer_however_it_is_wrapped(tmp_path):
    ca_dir = tmp_path / "ca-certificates" / "proxy"
    ca_dir.mkdir(parents=True)
    (ca_dir / "proxy.crt").write_text(PEM)
    markers = layer_scan.local_ca_markers(tmp_path / "ca-certificates")
    assert markers == [(CERT_LINES[2] + CERT_LINES[3]).encode()]

    rewrapped_bundle = "".join(CERT_LINES).encode()  # e.g. a bundle written without line breaks
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as image:
        add_layer(image, "clean/layer.tar", {"etc/hostname": b"x"})
        add_layer(image, "leaky/layer.tar", {"opt/venv/cacert.pem": rewrapped_bundle, "etc/os-release": b"debian"})
    assert layer_scan.files_with_markers(archive, markers) == ["opt/venv/cacert.pem"]


def test_no_locally_added_ca_means_no_markers(tmp_path):
    assert layer_scan.local_ca_markers(tmp_path / "absent") == []


def add_layer(image: tarfile.TarFile, name: str, files: dict[str, bytes]) -> None:
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as inner:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            inner.addfile(info, io.BytesIO(content))
    info = tarfile.TarInfo(name)
    info.size = layer.tell()
    layer.seek(0)
    image.addfile(info, layer)


def test_both_containerfiles_build_on_the_same_base():
    # The dev image shares the prod image's layers up to the dependency install.
    assert base_standin.upstream_base(PROD_CONTAINERFILE) == base_standin.upstream_base(DEV_CONTAINERFILE)
    assert base_standin.upstream_base(PROD_CONTAINERFILE).startswith("docker.io/library/python:3.11-slim")


def test_a_containerfile_without_its_base_argument_is_one_line(tmp_path):
    containerfile = tmp_path / "Containerfile"
    containerfile.write_text("FROM debian:bookworm\n")
    with pytest.raises(commands.SmokeFailure, match=r"^\S*Containerfile has no 'ARG PYTHON_BASE=<image>' line$"):
        base_standin.upstream_base(containerfile)


def test_the_standin_is_trimmed_and_configured_like_a_slim_image(tmp_path):
    for folder in ("usr/share/doc/python3", "var/lib/apt/lists", "etc/apt/apt.conf.d", "etc/dpkg/dpkg.cfg.d"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "usr/share/doc/python3/changelog.gz").write_bytes(b"x")
    (tmp_path / "var/cache/apt").mkdir(parents=True)
    (tmp_path / "var/cache/apt/pkgcache.bin").write_bytes(b"x")
    base_standin.trim_like_slim(tmp_path)
    assert list((tmp_path / "usr/share/doc").iterdir()) == []
    assert not (tmp_path / "var/cache/apt/pkgcache.bin").exists()
    assert "path-exclude /usr/share/doc/*" in (tmp_path / "etc/dpkg/dpkg.cfg.d/docker").read_text()
    assert 'Dir::Cache::pkgcache "";' in (tmp_path / "etc/apt/apt.conf.d/docker-clean").read_text()


def test_the_host_ca_is_mounted_for_the_build_and_named_by_pip_cert(tmp_path):
    bundle = tmp_path / "ca.crt"
    cmd = image_build.build_command(
        "img:tag", "base:1", PROD_CONTAINERFILE, no_cache=True, platform=None, ca_bundle=bundle
    )
    assert cmd[cmd.index("--volume") + 1] == f"{bundle}:{image_build.BUILD_CA_PATH}:ro"
    assert f"PIP_CERT={image_build.BUILD_CA_PATH}" in cmd
    assert cmd[cmd.index("--format") + 1] == "docker"  # keeps the HEALTHCHECK
    assert "--no-cache" in cmd
    assert cmd[-1] == str(ROOT)


def test_without_a_host_ca_the_build_mounts_nothing():
    cmd = image_build.build_command(
        "img:tag", "base:1", PROD_CONTAINERFILE, no_cache=False, platform=None, ca_bundle=None
    )
    assert "--volume" not in cmd
    assert not any(arg.startswith("PIP_CERT=") for arg in cmd)


def test_a_failed_command_is_reported_with_its_last_lines():
    script = "import sys; print('\\n'.join(f'line {n}' for n in range(40)), file=sys.stderr); sys.exit(3)"
    with pytest.raises(commands.SmokeFailure) as failure:
        commands.run(["python3", "-c", script])
    message = str(failure.value)
    assert "exited 3" in message
    assert message.endswith("line 39")
    assert "line 24" not in message  # only the last lines


@pytest.mark.parametrize(
    ("test", "command"),
    [
        (["CMD", "pg_isready", "--username=airflow"], ["pg_isready", "--username=airflow"]),
        (["CMD-SHELL", "curl -f localhost || exit 1"], ["sh", "-c", "curl -f localhost || exit 1"]),
    ],
)
def test_compose_healthchecks_become_commands(test, command):
    assert compose_pod.healthcheck_command(test) == command


def test_an_unsupported_healthcheck_is_one_line():
    with pytest.raises(commands.SmokeFailure, match="unsupported healthcheck test"):
        compose_pod.healthcheck_command(["NONE"])


def test_a_component_runs_in_the_pod_as_compose_resolves_it(services):
    worker = services["worker"]
    args = compose_pod.run_arguments("worker", worker, "dev:local", "/tmp/worker.env", detach=True)
    volumes = [args[index + 1] for index, arg in enumerate(args) if arg == "--volume"]
    assert f"{ROOT / 'dags'}:/opt/airflow/dags:ro" in volumes
    assert f"{compose_pod.POD}-airflow-logs:/opt/airflow/logs" in volumes  # named volume, removed with the pod
    assert args[args.index("--pod") + 1] == compose_pod.POD
    assert args[args.index("--detach") + 1 :] == ["dev:local", *contract.ENTRYPOINT, "worker"]
    assert f"AIRFLOW_DB_HOST={worker['environment']['AIRFLOW_DB_HOST']}\n" in compose_pod.env_file_content(worker)


def test_the_stack_runs_every_compose_service(services):
    started = {stack.POSTGRES, stack.SQS, stack.SQS_QUEUE, stack.INIT, stack.API_SERVER, *contract.LONG_RUNNING_NAMES}
    assert started == set(services)


def test_the_stack_dag_exists():
    dag_files = (path.read_text() for path in (ROOT / "dags").glob("*.py"))
    assert any(re.search(rf"dag_id=['\"]{stack.STACK_DAG}['\"]|def {stack.STACK_DAG}\(", text) for text in dag_files)


def test_the_pod_runs_the_postgresql_major_compose_names(services):
    # Decision 0023: the wheel's server stands in for compose's image, so their majors must agree.
    site_packages = Path(sysconfig.get_paths()["purelib"])
    assert postgres.wheel_major(site_packages) == postgres.compose_major(services["postgres"]["image"]) == 18


@pytest.mark.parametrize(
    ("image", "major"), [("postgres:18-bookworm", 18), ("docker.io/library/postgres:17.6", 17), ("postgres:16", 16)]
)
def test_the_major_comes_from_the_postgres_image_tag(image, major):
    assert postgres.compose_major(image) == major


def test_a_postgres_image_without_a_major_is_one_line():
    with pytest.raises(commands.SmokeFailure, match="names no major version"):
        postgres.compose_major("postgres:latest")


class FakeAirflow(BaseHTTPRequestHandler):
    """Just the REST calls the stack makes; the run ends in `final_state`."""

    final_state = "success"

    def do_POST(self):
        if self.path == "/auth/token":
            self.answer({"access_token": "token"})
        else:
            self.answer({"dag_run_id": "manual__1"})

    def do_PATCH(self):
        self.answer({"is_paused": False})

    def do_GET(self):
        self.answer({"state": self.final_state})

    def answer(self, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_airflow():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


ADMIN = {"environment": {"AIRFLOW_ADMIN_USERNAME": "admin", "AIRFLOW_ADMIN_PASSWORD": "admin"}}


def test_a_successful_dag_run_is_one_line(fake_airflow, capsys):
    stack.run_one_dag(fake_airflow, ADMIN)
    assert re.fullmatch(
        rf"ok   stack: {stack.STACK_DAG} success in \d+\.\d s \(REST API -> scheduler -> SQS -> worker\)\n",
        capsys.readouterr().out,
    )


def test_a_failed_dag_run_fails_the_stack(fake_airflow, monkeypatch):
    monkeypatch.setattr(FakeAirflow, "final_state", "failed")
    with pytest.raises(commands.SmokeFailure, match=rf"{stack.STACK_DAG} failed in"):
        stack.run_one_dag(fake_airflow, ADMIN)


def test_an_unreachable_api_server_is_one_line_after_retries(monkeypatch):
    monkeypatch.setattr(stack.time, "sleep", lambda _seconds: None)
    port = compose_pod.free_local_port()
    with pytest.raises(commands.SmokeFailure, match=r"^DAG run through the REST API: .*refused"):
        stack.run_one_dag(f"http://127.0.0.1:{port}", ADMIN)


def test_a_bad_argument_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        podman_image.main(["deploy"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "invalid choice: 'deploy'" in error
