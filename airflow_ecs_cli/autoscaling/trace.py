"""Workload traces for the autoscaling simulator: when each task is queued and how long it runs.

The format is CSV with a header, one task per line, times in seconds from the trace's start:

    # comment lines start with '#'
    arrival_seconds,duration_seconds
    0,42.5
    12,300

Tasks need not be sorted. A task is what Airflow queues to Celery: one task instance try.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

HEADER = ("arrival_seconds", "duration_seconds")
SHIPPED_TRACES = Path(__file__).parent / "traces"


class TraceError(ValueError):
    """A trace file that cannot be read; the message is one line naming the file and line."""


@dataclass(frozen=True, order=True)
class Task:
    arrival: float
    duration: float


def read_trace(path: Path) -> list[Task]:
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise TraceError(f"cannot read trace {path}: {error.strerror}") from None
    rows = [(number, line) for number, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    if not rows or tuple(cell.strip() for cell in rows[0][1].split(",")) != HEADER:
        raise TraceError(f"{path}: the first line must be the header {','.join(HEADER)} (see `--help`)")
    tasks = []
    for (number, _), cells in zip(rows[1:], csv.reader(line for _, line in rows[1:]), strict=True):
        try:
            arrival, duration = (float(cell) for cell in cells)
        except ValueError:
            raise TraceError(f"{path}:{number}: expected two numbers (arrival, duration), got {cells}") from None
        if arrival < 0 or duration <= 0:
            raise TraceError(f"{path}:{number}: arrival must be >= 0 and duration > 0, got {cells}")
        tasks.append(Task(arrival, duration))
    if not tasks:
        raise TraceError(f"{path}: no task in the trace")
    return sorted(tasks)


def write_trace(path: Path, tasks: list[Task], description: str) -> None:
    with path.open("w", newline="") as file:
        for line in description.strip().splitlines():
            file.write(f"# {line}\n")
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for task in sorted(tasks):
            writer.writerow([f"{task.arrival:g}", f"{task.duration:g}"])
