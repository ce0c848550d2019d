"""Run recipes scenario step: runs an ordered list of recipes; fails naming every failed recipe and its cause.

A shell: DSS gives the step's parameters through environment variables (read by ``dataiku.customstep``);
``flow_orchestrator.shells.steps`` validates them, runs, sets scenario variables and keeps the run record.
"""

import dataiku
from dataiku.customstep import get_plugin_config, get_step_config
from dataiku.scenario import Scenario
from flow_orchestrator.shells.forms import configure_logging
from flow_orchestrator.shells.steps import run_recipes_step

configure_logging()

run_recipes_step(
    get_step_config(),
    get_plugin_config(),
    client=dataiku.api_client(),
    project_key=dataiku.default_project_key(),
    scenario=Scenario(),
)
