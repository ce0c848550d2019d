"""Helpers of the schema-operation tests (a module of its own: ``conftest`` names are shared between folders)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

SHOP_FLOW = Path(__file__).resolve().parent / "shop_flow.json"
PROJECT = "SHOP"
DOWNSTREAM_OF_ORDERS_RAW = ("ORDERS_CLEAN", "ORDERS_PREPARED", "ORDERS_ENRICHED", "SEGMENT_TOTALS", "CUSTOMER_SEGMENTS")
ALL_DATASETS = ("ORDERS_RAW", "CUSTOMERS", "REFUNDS") + DOWNSTREAM_OF_ORDERS_RAW


def column_names(gateway, dataset: str) -> List[str]:
    return [column["name"] for column in gateway.dataset_schema(dataset)]


def schemas(gateway, datasets: Sequence[str] = ALL_DATASETS) -> Dict[str, List[dict]]:
    return {name: gateway.dataset_schema(name) for name in datasets}


def add_column(gateway, dataset: str, name: str, column_type: str) -> None:
    """What a user does upstream: the dataset gets a new column (the datasets below are now stale)."""
    gateway.set_dataset_schema(dataset, gateway.dataset_schema(dataset) + [{"name": name, "type": column_type}])


def remove_column(gateway, dataset: str, name: str) -> None:
    columns = gateway.dataset_schema(dataset)
    assert name in [column["name"] for column in columns]
    gateway.set_dataset_schema(dataset, [column for column in columns if column["name"] != name])
