"""AWS list prices the cost figures come from, one JSON file per region, each price with its source.

The file says when the prices were gathered: re-check them against the providers' pricing pages
before relying on a figure, and update the date when you do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PRICE_FILES = Path(__file__).parent


class PriceError(LookupError):
    """A price the table does not have; the message is one line."""


@dataclass(frozen=True)
class PriceTable:
    region: str
    gathered: str
    hours_per_month: float
    prices: dict[str, float]
    sources: dict[str, str]

    def __getitem__(self, item: str) -> float:
        try:
            return self.prices[item]
        except KeyError:
            raise PriceError(
                f"no price for {item!r} in the {self.region} price table (airflow_ecs_cli/prices/{self.region}.json)"
            ) from None

    def fargate_hour(self, architecture: str, cpu_units: int, memory_mib: int) -> float:
        """On-demand price of one Fargate task of this size for an hour."""
        arch = architecture.lower()
        return (
            cpu_units / 1024 * self[f"fargate_{arch}_vcpu_hour"] + memory_mib / 1024 * self[f"fargate_{arch}_gb_hour"]
        )


@cache
def price_table(region: str = "us-east-1") -> PriceTable:
    path = PRICE_FILES / f"{region}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PRICE_FILES.glob("*.json")))
        raise PriceError(
            f"no price table for region {region!r} (have: {known}): add airflow_ecs_cli/prices/{region}.json"
        )
    data = json.loads(path.read_text())
    items = data["items"]
    return PriceTable(
        region=data["region"],
        gathered=data["gathered"],
        hours_per_month=data["hours_per_month"],
        prices={name: item["price"] for name, item in items.items()},
        sources={name: item["source"] for name, item in items.items()},
    )
