"""Verify outputs scenario step: fails the scenario when an ERROR expectation fails, naming each one and why.

A shell: DSS gives the step's parameters through environment variables (read by ``dataiku.customstep``);
``flow_orchestrator.shells.steps`` validates them, verifies, sets scenario variables and report items.
"""

import dataiku
from dataiku.customstep import get_plugin_config, get_step_config
from dataiku.scenario import Scenario
from flow_orchestrator.shells.forms import configure_logging
from flow_orchestrator.shells.steps import run_verify_step

configure_logging()

run_verify_step(
    get_step_config(),
    get_plugin_config(),
    client=dataiku.api_client(),
    project_key=dataiku.default_project_key(),
    scenario=Scenario(),
)
