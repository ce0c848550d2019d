"""Flow Orchestrator: control, visibility and verification around Dataiku DSS Flow builds.

The package never imports the DSS-only ``dataiku`` module: it works with a ``dataikuapi`` client
(through :mod:`flow_orchestrator.dss`) so the same code backs the macros, the scenario step and the CLI.
"""

__version__ = "0.1.0"
