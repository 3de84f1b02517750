"""The benchmark's arithmetic and table: rounds, ratios, per-task CPU (no stack needed)."""

from __future__ import annotations

import pytest

from local_stack.benchmark_figures import (
    SideFigures,
    cpu_breakdown,
    difference,
    ratio,
    split,
    table,
    worker_breakdown,
)


def test_runs_are_spread_over_the_rounds_without_losing_one():
    assert split(10, 2) == [5, 5]
    assert split(3, 2) == [2, 1]
    assert split(4, 3) == [2, 1, 1]
    assert split(1, 2) == [1, 0]
    assert sum(split(17, 4)) == 17


def test_no_rounds_is_refused():
    with pytest.raises(ValueError, match="rounds"):
        split(3, 0)


def test_ratio_is_ours_over_the_baseline_and_absent_when_either_is():
    assert ratio(0.5, 1.0) == 0.5
    assert ratio(None, 1.0) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None


def test_throughput_and_cpu_per_task_add_up_over_runs():
    figures = SideFigures()
    figures.add_throughput(40.0, 252, {"worker": 20.0, "postgres": 5.2})
    figures.add_throughput(44.0, 252, {"worker": 22.0, "postgres": 4.8})
    assert figures.throughput_tasks == 504
    assert figures.tasks_per_second == pytest.approx(504 / 84)
    assert figures.cpu_ms_per_task == pytest.approx(1000 * 52 / 504)
    assert figures.cpu_by_part == {"worker": 42.0, "postgres": 10.0}
    assert cpu_breakdown(figures) == "worker 83, postgres 20"


def test_the_worker_by_role_adds_up_over_runs_with_its_kernel_share():
    figures = SideFigures()
    before = {"Celery main process": (1.0, 0.5), "task supervisors": (10.0, 4.0), "task processes": (20.0, 9.0)}
    after = {"Celery main process": (1.5, 0.6), "task supervisors": (15.0, 7.0), "task processes": (27.0, 14.0)}
    assert difference(after, before)["task processes"] == pytest.approx((7.0, 5.0))
    figures.add_throughput(40.0, 250, {"worker": 12.1})
    figures.add_worker_roles(difference(after, before))
    figures.add_throughput(40.0, 250, {"worker": 12.1})
    figures.add_worker_roles(difference(after, before))
    assert worker_breakdown(figures) == (
        "Celery main process 2 (kernel 0), task supervisors 32 (kernel 12), task processes 48 (kernel 20)"
    )


def test_a_role_missing_from_either_reading_is_left_out():
    assert difference({"task processes": (2.0, 1.0)}, {}) == {}
    assert worker_breakdown(SideFigures()) == ""


def test_nothing_measured_gives_no_figure():
    empty = SideFigures()
    assert empty.tasks_per_second is None
    assert empty.cpu_ms_per_task is None


def test_the_table_shows_both_columns_and_the_ratio():
    ours = SideFigures(one_task=[0.4, 0.5, 0.6], burst=[6.0], idle_cpu_percent=10.0)
    ours.add_throughput(100.0, 1000, {"worker": 200.0})
    theirs = SideFigures(one_task=[0.8, 1.0, 1.2], burst=[8.0], idle_cpu_percent=20.0)
    theirs.add_throughput(200.0, 1000, {"worker": 400.0})
    text = table(ours, theirs, burst_tasks=50, large_count=250)
    lines = text.splitlines()
    assert lines[0].startswith("| figure | ours | plain tuned Airflow | ours / baseline")
    row = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert "| 0.50 s | 1.00 s | 0.50x |" in row["one task, trigger to success, median of 3"]
    assert "| 6.00 s | 8.00 s | 0.75x |" in row["50 mapped tasks (+2), trigger to success, median of 1"]
    assert "| 10.00 tasks/s | 5.00 tasks/s | 2.00x | higher |" in row["1000 tasks (runs of 250 mapped +2), throughput"]
    assert "| 200 ms | 400 ms | 0.50x |" in row["machine CPU per task (those runs, all processes)"]
    assert "| 10.0 % of one core | 20.0 % of one core | 0.50x |" in row["idle CPU of the whole stack"]


def test_a_missing_side_prints_not_available_rather_than_failing():
    text = table(SideFigures(one_task=[0.5]), SideFigures(), burst_tasks=50, large_count=250)
    assert "| 0.50 s | n/a | n/a |" in text
