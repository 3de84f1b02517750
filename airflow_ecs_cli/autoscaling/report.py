"""Compare policies on one trace: the table `airflow-ecs autoscaling simulate` prints, and its plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from airflow_ecs_cli.autoscaling.policies import DemandStepPolicy, FixedWorkers, UpstreamTargetTracking
from airflow_ecs_cli.autoscaling.simulator import Fleet, Policy, Result, simulate
from airflow_ecs_cli.autoscaling.trace import Task

POLICY_NAMES = ("ours", "upstream", "fixed")


@dataclass(frozen=True)
class Comparison:
    trace: str
    results: tuple[Result, ...]


def policies(
    names: tuple[str, ...], *, min_workers: int, max_workers: int, concurrency: int, fixed: int, scale_in_after: int
) -> list[Policy]:
    made: dict[str, Policy] = {
        "ours": DemandStepPolicy(min_workers, max_workers, concurrency, scale_in_after=scale_in_after),
        "upstream": UpstreamTargetTracking(min_workers, max_workers),
        "fixed": FixedWorkers(fixed),
    }
    return [made[name] for name in names]


def compare(trace: str, tasks: list[Task], chosen: list[Policy], fleet: Fleet) -> Comparison:
    return Comparison(trace, tuple(simulate(tasks, policy, fleet) for policy in chosen))


def table(comparisons: list[Comparison]) -> str:
    lines = [
        "| trace | policy | queue wait p50 | p95 | max | worker-hours | cost | tasks killed by scale-in |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for comparison in comparisons:
        for result in comparison.results:
            lines.append(
                f"| {comparison.trace} | {result.policy} | {result.wait_percentile(50):.0f} s "
                f"| {result.wait_percentile(95):.0f} s | {max(result.waits):.0f} s | {result.worker_hours:.1f} "
                f"| ${result.cost:.2f} | {result.killed_tasks} |"
            )
    return "\n".join(lines)


def plot(comparison: Comparison, path: Path) -> None:
    """Workers and queued tasks over time, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, (workers_axis, queue_axis) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for result in comparison.results:
        hours = [second / 3600 for second, *_ in result.timeline]
        workers_axis.step(hours, [point[3] for point in result.timeline], where="post", label=result.policy)
        queue_axis.step(hours, [point[1] for point in result.timeline], where="post", label=result.policy)
    workers_axis.set_ylabel("workers")
    queue_axis.set_ylabel("tasks waiting in the queue")
    queue_axis.set_xlabel("hours from the trace's start")
    workers_axis.set_title(f"Worker autoscaling simulated on '{comparison.trace}'")
    workers_axis.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def fleet_for(settings, prices) -> Fleet:
    """The workers of a deployment: their concurrency and on-demand price per hour."""
    size = settings.worker
    return Fleet(
        concurrency=settings.worker_concurrency,
        worker_hour_price=prices.fargate_hour(settings.cpu_architecture, size.cpu, size.memory_mib),
    )


def run(
    settings, prices, traces: dict[str, list[Task]], names: tuple[str, ...], fixed: int, plot_folder: Path | None
) -> tuple[list[Comparison], list[Path]]:
    """Every chosen policy on every trace with a deployment's settings; the plots written."""
    fleet = fleet_for(settings, prices)
    comparisons, plots = [], []
    for trace, tasks in traces.items():
        chosen = policies(
            names,
            min_workers=settings.worker.count,
            max_workers=settings.worker_max_count,
            concurrency=settings.worker_concurrency,
            fixed=fixed,
            scale_in_after=settings.worker_scale_in_after_seconds,
        )
        comparison = compare(trace, tasks, chosen, fleet)
        comparisons.append(comparison)
        if plot_folder is not None:
            plot_folder.mkdir(parents=True, exist_ok=True)
            path = plot_folder / f"autoscaling-{trace}.png"
            plot(comparison, path)
            plots.append(path)
    return comparisons, plots
