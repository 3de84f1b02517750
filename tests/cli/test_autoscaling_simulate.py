"""`airflow-ecs autoscaling simulate`: the deployment's policy on traces, table and plots."""

from __future__ import annotations

from typer.testing import CliRunner

from airflow_ecs_cli import deployment
from airflow_ecs_cli.cli import app


def simulate(*args: str):
    return CliRunner().invoke(app, ["autoscaling", "simulate", *args])


def test_a_small_trace_with_the_dev_settings(tmp_path):
    trace = tmp_path / "two.csv"
    trace.write_text("arrival_seconds,duration_seconds\n0,30\n5,30\n")
    result = simulate("--trace", str(trace), "--policy", "ours", "--policy", "fixed", "--plot", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    dev = deployment.load("dev", {}).settings
    assert lines[0].startswith(
        f"profile dev: workers {dev.worker.count}-{dev.worker_max_count}, {dev.worker.cpu / 1024:g} vCPU / "
        f"{dev.worker.memory_mib / 1024:g} GB {dev.cpu_architecture}, {dev.worker_concurrency} slots each; "
        "on-demand prices of us-east-1"
    )
    rows = [line for line in lines if line.startswith("| two |")]
    assert [row.split(" | ")[1] for row in rows] == ["on demand (this project)", "fixed 2 workers"]
    assert (tmp_path / "autoscaling-two.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_input_is_one_line():
    result = simulate("--policy", "magic")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown policy 'magic': expected one of ours, upstream, fixed"
    missing = simulate("--trace", "/nonexistent/trace.csv")
    assert missing.exit_code == 2
    assert missing.stderr.strip().startswith("error: cannot read trace /nonexistent/trace.csv")
    settings = simulate("--settings", "worker_max_count=0")
    assert settings.exit_code == 2
    assert settings.stderr.strip().startswith("error: settings: worker_max_count: 0 is not allowed")
