"""Fixtures of the reliability suite: a shared clinical emulator (faults cleared, jobs finished after each test),
and a session emulator with room for 60 parallel activities for generated flows (properties, load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dss_emulator import EmulatedDSS
from tests.reliability.harness import READ_ONLY_KEY, fast_clinical_flow, settle


@pytest.fixture(scope="session")
def clinical_emulator():
    """One emulator on the clinical flow for the suite (tests that need a clean instance start their own)."""
    with EmulatedDSS.start(flows=[fast_clinical_flow()], read_only_api_key=READ_ONLY_KEY) as dss:
        yield dss


@pytest.fixture
def dss(clinical_emulator):
    """The shared clinical emulator; faults cleared and jobs finished after each test."""
    settle(clinical_emulator)
    yield clinical_emulator
    settle(clinical_emulator)


@pytest.fixture
def record_path(tmp_path) -> Path:
    return tmp_path / "run-record.json"


@pytest.fixture(scope="session")
def wide_emulator():
    """An emulator without flows and with 60 activity slots: tests load generated flows under their own keys."""
    with EmulatedDSS.start(activity_cap=60) as dss:
        yield dss
