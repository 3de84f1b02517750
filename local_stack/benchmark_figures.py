"""The benchmark's figures for two stacks side by side (ours, plain tuned Airflow) and their table.

Pure arithmetic and formatting, so it is tested without a stack (tests/unit/test_benchmark_figures.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from local_stack.worker_cpu import WORKER_ROLES


def split(total: int, rounds: int) -> list[int]:
    """Spread ``total`` runs over ``rounds`` alternating rounds, the earlier rounds taking the rest."""
    if rounds < 1:
        raise ValueError(f"rounds must be 1 or more, got {rounds}")
    base, rest = divmod(total, rounds)
    return [base + (1 if index < rest else 0) for index in range(rounds)]


@dataclass
class SideFigures:
    """What one stack measured, added up over the rounds."""

    one_task: list[float] = field(default_factory=list)  # trigger to success, seconds
    burst: list[float] = field(default_factory=list)  # the 50-task runs, seconds
    throughput_seconds: float = 0.0  # wall time of the large mapped runs, trigger to success
    throughput_tasks: int = 0
    throughput_cpu: float = 0.0  # machine CPU-seconds of the whole stack during those runs
    cpu_by_part: dict[str, float] = field(default_factory=dict)  # same window, by part
    # Same window, the worker by role (worker_cpu.WORKER_ROLES): (user, kernel) CPU-seconds.
    worker_by_role: dict[str, tuple[float, float]] = field(default_factory=dict)
    idle_cpu_percent: float | None = None  # of one core

    def add_throughput(self, seconds: float, tasks: int, cpu: dict[str, float]) -> None:
        self.throughput_seconds += seconds
        self.throughput_tasks += tasks
        self.throughput_cpu += sum(cpu.values())
        for name, used in cpu.items():
            self.cpu_by_part[name] = self.cpu_by_part.get(name, 0.0) + used

    def add_worker_roles(self, used: dict[str, tuple[float, float]]) -> None:
        for role, (user, kernel) in used.items():
            total_user, total_kernel = self.worker_by_role.get(role, (0.0, 0.0))
            self.worker_by_role[role] = (total_user + user, total_kernel + kernel)

    @property
    def tasks_per_second(self) -> float | None:
        return self.throughput_tasks / self.throughput_seconds if self.throughput_seconds else None

    @property
    def cpu_ms_per_task(self) -> float | None:
        return 1000 * self.throughput_cpu / self.throughput_tasks if self.throughput_tasks else None


def difference(
    after: dict[str, tuple[float, float]], before: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """(user, kernel) used between two readings, for the roles both readings have."""
    return {
        role: (after[role][0] - before[role][0], after[role][1] - before[role][1]) for role in after if role in before
    }


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(ours: float | None, baseline: float | None) -> float | None:
    if ours is None or baseline is None or baseline == 0:
        return None
    return ours / baseline


def _cell(value: float | None, unit: str, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def table(ours: SideFigures, baseline: SideFigures, *, burst_tasks: int, large_count: int) -> str:
    """The Markdown table: each figure for both stacks and the ratio ours / baseline."""
    rows = [
        (f"one task, trigger to success, median of {len(ours.one_task)}", median(ours.one_task),
         median(baseline.one_task), " s", 2, "lower"),
        (f"{burst_tasks} mapped tasks (+2), trigger to success, median of {len(ours.burst)}",
         median(ours.burst), median(baseline.burst), " s", 2, "lower"),
        (f"{ours.throughput_tasks} tasks (runs of {large_count} mapped +2), throughput",
         ours.tasks_per_second, baseline.tasks_per_second, " tasks/s", 2, "higher"),
        ("machine CPU per task (those runs, all processes)", ours.cpu_ms_per_task, baseline.cpu_ms_per_task,
         " ms", 0, "lower"),
        ("idle CPU of the whole stack", ours.idle_cpu_percent, baseline.idle_cpu_percent, " % of one core", 1,
         "lower"),
    ]  # fmt: skip
    lines = [
        "| figure | ours | plain tuned Airflow | ours / baseline | better |",
        "|---|---|---|---|---|",
    ]
    for name, mine, theirs, unit, digits, better in rows:
        lines.append(
            f"| {name} | {_cell(mine, unit, digits)} | {_cell(theirs, unit, digits)} "
            f"| {_cell(ratio(mine, theirs), 'x', 2)} | {better} |"
        )
    return "\n".join(lines)


def cpu_breakdown(figures: SideFigures) -> str:
    """CPU-ms per task of each part, over the large runs, largest first."""
    tasks = figures.throughput_tasks or 1
    return ", ".join(
        f"{name} {1000 * used / tasks:.0f}"
        for name, used in sorted(figures.cpu_by_part.items(), key=lambda item: -item[1])
        if used > 0
    )


def worker_breakdown(figures: SideFigures) -> str:
    """The worker's CPU-ms per task by role over the large runs, with the kernel's part of each."""
    tasks = figures.throughput_tasks or 1
    cells = []
    for role in WORKER_ROLES:
        if role in figures.worker_by_role:
            user, kernel = figures.worker_by_role[role]
            cells.append(f"{role} {1000 * (user + kernel) / tasks:.0f} (kernel {1000 * kernel / tasks:.0f})")
    return ", ".join(cells)
