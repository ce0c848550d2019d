"""Fixtures of the schema-operation tests: a fresh emulator serving the SHOP flow, a gateway, schema helpers.

SHOP (``shop_flow.json``): ORDERS_RAW -> sync -> ORDERS_CLEAN -> prepare -> ORDERS_PREPARED -> join (automatic column
selection, with CUSTOMERS) -> ORDERS_ENRICHED -> grouping -> SEGMENT_TOTALS; and CUSTOMERS + ORDERS_CLEAN -> join with
explicitly selected columns (CUSTOMERS.customer_name among them) -> CUSTOMER_SEGMENTS. REFUNDS is a source with no
rows. Every output is built at load.
"""

from __future__ import annotations

import pytest
from schema_ops_helpers import PROJECT, SHOP_FLOW


@pytest.fixture
def shop_dss():
    """A fresh emulator per test: the tests change schemas and data."""
    from dss_emulator import EmulatedDSS

    with EmulatedDSS.start(flows=[str(SHOP_FLOW)]) as dss:
        yield dss


@pytest.fixture
def gateway(shop_dss):
    from flow_orchestrator.dss import DSSGateway

    return DSSGateway(shop_dss.client(), PROJECT, dss_url=shop_dss.url)
