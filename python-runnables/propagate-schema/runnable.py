"""Propagate schema macro: previews (and runs) a schema propagation from a dataset; returns the HTML report.

A shell: DSS gives the form and the current user's client; ``flow_orchestrator.shells.macros`` does the rest.
"""

import dataiku
from dataiku.runnables import Runnable
from flow_orchestrator.shells.forms import configure_logging
from flow_orchestrator.shells.macros import run_propagate_macro


class PropagateSchemaMacro(Runnable):
    """Validates the form against the Flow, previews, propagates unless preview only, reports the diff."""

    def __init__(self, project_key, config, plugin_config):
        super().__init__(project_key, config, plugin_config)

    def get_progress_target(self):
        return None

    def run(self, progress_callback):
        configure_logging()
        return run_propagate_macro(
            self.config, self.plugin_config, client=dataiku.api_client(), project_key=self.project_key
        )
