"""Emulator fixtures: a session-wide emulator on the clinical flow, and fresh ones where a test needs clean state.

Recipe durations are shortened to 10 ms so the suite stays fast; tests wait on the emulator's events, never sleep.
"""

from __future__ import annotations

import pytest

from dss_emulator import EmulatedDSS
from tests.reliability.harness import fast_clinical_flow

READ_ONLY_KEY = "reader-key-for-tests"


@pytest.fixture(scope="session")
def session_dss():
    with EmulatedDSS.start(flows=[fast_clinical_flow()], read_only_api_key=READ_ONLY_KEY) as dss:
        yield dss


@pytest.fixture
def dss(session_dss):
    """The shared emulator, with faults cleared after each test."""
    yield session_dss
    session_dss.clear_faults()


@pytest.fixture
def fresh_dss():
    """A new emulator whose clinical project nothing has built yet."""
    with EmulatedDSS.start(flows=[fast_clinical_flow()], read_only_api_key=READ_ONLY_KEY) as dss:
        yield dss


@pytest.fixture
def project(dss):
    return dss.client().get_project("CLINICAL")


@pytest.fixture
def fresh_project(fresh_dss):
    return fresh_dss.client().get_project("CLINICAL")


PIPELINE = ["group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA"]


def _build_recipe(project, recipe_name):
    """The seed's build_recipe pattern: returns (success, first failure messages)."""
    job = project.get_recipe(recipe_name).run(no_fail=True)
    status = job.get_status()
    state = status.get("baseStatus", {}).get("state")
    if state == "DONE":
        return True, []
    activities = status.get("baseStatus", {}).get("activities", {})
    return False, [info["firstFailure"].get("message") for info in activities.values() if info.get("firstFailure")]


def _build_all(project):
    for name in PIPELINE + ["train_MODEL_SCORES"]:
        ok, errors = _build_recipe(project, name)
        assert ok, (name, errors)


@pytest.fixture
def build_recipe():
    return _build_recipe


@pytest.fixture
def build_all():
    return _build_all


@pytest.fixture
def read_only_key():
    return READ_ONLY_KEY


@pytest.fixture
def clinical_flow():
    """A fresh copy of the clinical flow with short durations (change it freely)."""
    return fast_clinical_flow()
