"""Verify outputs macro: checks datasets against expectations (or captures them); returns the HTML report.

A shell: DSS gives the form and the current user's client; ``flow_orchestrator.shells.macros`` does the rest.
"""

import dataiku
from dataiku.runnables import Runnable
from flow_orchestrator.shells.forms import configure_logging
from flow_orchestrator.shells.macros import run_verify_macro


class VerifyOutputsMacro(Runnable):
    """Validates the form and the JSON spec, reads only the facts needed, reports one row per expectation."""

    def __init__(self, project_key, config, plugin_config):
        super().__init__(project_key, config, plugin_config)

    def get_progress_target(self):
        return None

    def run(self, progress_callback):
        configure_logging()
        return run_verify_macro(
            self.config, self.plugin_config, client=dataiku.api_client(), project_key=self.project_key
        )
