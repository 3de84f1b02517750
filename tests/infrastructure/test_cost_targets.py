"""The shipped profiles meet their cost targets at the repository's prices, and the README shows
what `airflow-ecs cost` prints for them (decisions 0060-0062)."""

from __future__ import annotations

import pytest

from airflow_ecs_cli import cost
from airflow_ecs_cli.prices import price_table
from tests.conftest import REPO_ROOT

# Idle, around the clock, us-east-1 list prices (issue 11).
TARGETS = {"dev": 50.0, "prod": 250.0}


def estimate(raw_templates, deployment: str) -> cost.Estimate:
    templates = [raw_templates[deployment], raw_templates[f"{deployment}-registry"]]
    return cost.estimate(deployment, templates, price_table("us-east-1"))


@pytest.mark.parametrize("deployment", TARGETS)
def test_the_profile_idles_under_its_target_and_under_mwaa(raw_templates, deployment):
    result = estimate(raw_templates, deployment)
    assert result.total <= TARGETS[deployment]
    (small,) = [line for line in result.mwaa if line.item == "MWAA mw1.small"]
    assert result.total < small.always


def test_dev_costs_less_again_with_its_night_stop(raw_templates):
    result = estimate(raw_templates, "dev")
    assert result.schedule is not None and "65 of 168 hours" in result.schedule
    assert result.total_scheduled < result.total


@pytest.mark.parametrize("deployment", TARGETS)
def test_the_readme_shows_the_table_the_command_prints(raw_templates, deployment):
    table = cost.table(estimate(raw_templates, deployment))
    readme = (REPO_ROOT / "README.md").read_text()
    assert table in readme, (
        f"README.md's {deployment} cost table is stale: paste the table `airflow-ecs cost` prints "
        f"(README, section Cost):\n{table}"
    )
