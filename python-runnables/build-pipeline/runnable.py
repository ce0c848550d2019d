"""Build pipeline macro: builds the selected part of the Flow and returns the HTML report.

A shell: DSS gives the form and the current user's client; ``flow_orchestrator.shells.macros`` does the rest.
"""

import dataiku
from dataiku.runnables import Runnable
from flow_orchestrator.shells.forms import configure_logging
from flow_orchestrator.shells.macros import max_progress, run_build_macro


class BuildPipelineMacro(Runnable):
    """Validates the form, runs (or plans) the build, keeps the run record, returns the report.

    DSS builds it with ``(project_key, config, plugin_config)``: the base class's constructor.
    """

    def get_progress_target(self):
        target = max_progress(
            self.config, self.plugin_config, client=dataiku.api_client(), project_key=self.project_key
        )
        return None if target is None else (target, "NONE")

    def run(self, progress_callback):
        configure_logging()
        return run_build_macro(
            self.config,
            self.plugin_config,
            client=dataiku.api_client(),
            project_key=self.project_key,
            progress_callback=progress_callback,
        )
