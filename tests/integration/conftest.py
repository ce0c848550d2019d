"""Where the integration suite runs: the emulator (default) or a real DSS instance.

``make integration-tests DSS_URL=... DSS_API_KEY=... DSS_PROJECT=...`` points the ``dss_target`` fixture at a real
instance: the suite creates its own small clinical Flow in that project (objects prefixed ``FO_TEST_``, see
:mod:`real_dss_setup`), runs against it, and deletes it at the end. Tests marked ``emulator_only`` (fault injection,
restarts, timing knobs only the emulator has) are skipped there. Without those variables, ``dss_target`` is an
emulator serving ``examples/flows/clinical.json`` as project CLINICAL. The API key is never printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLINICAL_FLOW = ROOT / "examples" / "flows" / "clinical.json"
EMULATOR_PROJECT = "CLINICAL"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from dss_targets import DSSTarget, RealDSSSettings, real_dss_settings  # noqa: E402 - path added just above
from real_dss_setup import (  # noqa: E402
    DEFAULT_PREFIX,
    ClinicalTestFlow,
    create_clinical_test_flow,
    delete_test_objects,
)


def pytest_configure(config) -> None:
    config._flow_orchestrator_real_dss = real_dss_settings(os.environ)


def _settings(config) -> Optional[RealDSSSettings]:
    return getattr(config, "_flow_orchestrator_real_dss", None)


def pytest_report_header(config):
    settings = _settings(config)
    if settings is None:
        return f"integration target: DSS emulator ({CLINICAL_FLOW.relative_to(ROOT)}, project {EMULATOR_PROJECT})"
    return (
        f"integration target: real DSS at {settings.display_url}, project {settings.project_key}, "
        f"test objects {DEFAULT_PREFIX}* on connection {settings.connection}"
    )


def pytest_collection_modifyitems(config, items) -> None:
    settings = _settings(config)
    if settings is None:
        return
    skip = pytest.mark.skip(
        reason=f"emulator_only: needs the emulator's fault controls (injected failures, hangs, "
        f"restarts or timing), which a real DSS ({settings.display_url}) does not have"
    )
    for item in items:
        if item.get_closest_marker("emulator_only") and HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def dss_target(pytestconfig):
    """The emulator on the clinical Flow, or a real DSS project holding the suite's own copy of it."""
    settings = _settings(pytestconfig)
    if settings is None:
        from dss_emulator import EmulatedDSS

        with EmulatedDSS.start(flows=[str(CLINICAL_FLOW)]) as emulator:
            yield DSSTarget(
                emulator.url, emulator.api_key, EMULATOR_PROJECT, ClinicalTestFlow(prefix=""), emulator=emulator
            )
        return
    target = DSSTarget(
        settings.url,
        settings.api_key,
        settings.project_key,
        ClinicalTestFlow(DEFAULT_PREFIX),
        verify_tls=settings.verify_tls,
    )
    project = target.project()
    create_clinical_test_flow(project, DEFAULT_PREFIX, settings.connection)
    try:
        yield target
    finally:
        delete_test_objects(project, DEFAULT_PREFIX)
