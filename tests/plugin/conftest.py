"""Fixtures of the plugin tests: the ``dataiku`` double, the emulator, and DSS's ways of running our code.

``load_runnable_class`` follows DSS's discovery rule (exec ``runnable.py``, take the one strict ``Runnable``
subclass, call the constructor with as many of ``(project_key, config, plugin_config)`` as it takes);
``run_step`` runs ``step.py`` as a script with the ``DKU_PLUGIN_*`` environment variables DSS sets.
"""

from __future__ import annotations

import inspect
import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATAIKU_DOUBLE = ROOT / "tests" / "dataiku_double"
if str(DATAIKU_DOUBLE) not in sys.path:
    sys.path.insert(0, str(DATAIKU_DOUBLE))

MACRO_PY = ROOT / "python-runnables" / "build-pipeline" / "runnable.py"
STEP_PY = ROOT / "python-steps" / "run-recipes" / "step.py"
CHOICES_PY = ROOT / "resource" / "choices.py"
CLINICAL_FLOW = ROOT / "examples" / "flows" / "clinical.json"


def load_runnable_class(path: Path):
    """The macro class as DSS finds it: exactly one strict subclass of ``Runnable`` in the file's namespace."""
    from dataiku.runnables import Runnable

    namespace = {"__name__": "runnable", "__file__": str(path)}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    found = [v for v in namespace.values() if inspect.isclass(v) and issubclass(v, Runnable) and v is not Runnable]
    if len(found) > 1:
        raise Exception(f"Multiple classes inheriting Runnable defined: {[c.__name__ for c in found]}")
    if not found:
        raise Exception(f"No class inheriting Runnable defined in {path}")
    return found[0]


def instantiate_runnable(cls, project_key: str, config: dict, plugin_config: dict):
    """DSS's constructor rule: the argument count of ``__init__`` (with self) picks the arguments."""
    arity = len(inspect.getfullargspec(cls.__init__).args)
    if arity not in (1, 2, 3, 4):
        raise Exception(f"Wrong signature of the Runnable subclass: {arity} arguments")
    return cls(*[project_key, config, plugin_config][: arity - 1])


@dataclass
class MacroRun:
    """What DSS would have seen of one macro run."""

    result: Any
    progress_target: Optional[tuple]
    progress: List[int] = field(default_factory=list)


def exec_choices(path: Path = CHOICES_PY):
    """The ``do`` function of a ``paramsPythonSetup`` script, found as DSS finds it."""
    namespace: dict = {"__name__": "choices"}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    functions = [v for k, v in namespace.items() if inspect.isfunction(v) and not k.startswith("__")]
    return functions[0] if len(functions) == 1 else namespace["do"]


@pytest.fixture
def dss_loader():
    """DSS's loading rules for macros, for tests of the rules themselves."""
    return load_runnable_class, instantiate_runnable


@pytest.fixture
def choices_do():
    """The ``do`` of ``resource/choices.py``, loaded as DSS loads it."""
    return exec_choices()


@pytest.fixture
def clinical_dss():
    """A fresh emulator serving the clinical example flow (each test may break recipes or write variables)."""
    from dss_emulator import EmulatedDSS

    with EmulatedDSS.start(flows=[str(CLINICAL_FLOW)]) as dss:
        yield dss


@pytest.fixture
def project_key(clinical_dss) -> str:
    keys = clinical_dss.client().list_project_keys()
    assert len(keys) == 1, keys
    return keys[0]


@pytest.fixture
def dss_env(monkeypatch, clinical_dss, project_key):
    """The environment DSS gives plugin processes, pointed at the emulator through the double."""
    monkeypatch.setenv("DKU_TEST_DSS_URL", clinical_dss.url)
    monkeypatch.setenv("DKU_TEST_DSS_API_KEY", clinical_dss.api_key)
    monkeypatch.setenv("DKU_CURRENT_PROJECT_KEY", project_key)
    monkeypatch.setenv("DKU_CUSTOM_RESOURCE_FOLDER", str(ROOT / "resource"))
    return monkeypatch


@pytest.fixture
def new_macro(dss_env):
    """The Build pipeline macro object as DSS creates it, for a given project key and form."""

    def make(project_key: str, config: dict, plugin_config: Optional[dict] = None):
        cls = load_runnable_class(MACRO_PY)
        return instantiate_runnable(cls, project_key, json.loads(json.dumps(config)), plugin_config or {})

    return make


@pytest.fixture
def run_macro(new_macro, project_key):
    """Run the Build pipeline macro the way DSS does; returns a :class:`MacroRun`."""

    def run(config: dict, plugin_config: Optional[dict] = None) -> MacroRun:
        macro = new_macro(project_key, config, plugin_config)
        outcome = MacroRun(result=None, progress_target=macro.get_progress_target())
        outcome.result = macro.run(outcome.progress.append)
        return outcome

    return run


@pytest.fixture
def run_step(dss_env):
    """Run ``step.py`` as DSS does: a script reading ``DKU_PLUGIN_STEP_CONFIG`` / ``DKU_PLUGIN_CONFIG``.

    ``resolved`` is what DSS puts in ``get_plugin_config()["config"]`` (presets resolved); by default the
    step config itself. Returns the scenario variables the step set and its report items.
    """
    import dataiku.scenario as scenario_double

    def run(step_config: dict, resolved: Optional[dict] = None):
        dss_env.setenv("DKU_PLUGIN_STEP_CONFIG", json.dumps(step_config))
        dss_env.setenv(
            "DKU_PLUGIN_CONFIG",
            json.dumps({"config": resolved if resolved is not None else step_config, "pluginConfig": {}}),
        )
        scenario_double.RECORDED_CALLS.clear()
        try:
            runpy.run_path(str(STEP_PY), run_name="__main__")
        finally:
            run.variables = scenario_double.recorded_variables()
            run.report_items = scenario_double.recorded_report_items()

    run.variables, run.report_items = {}, []
    return run


@pytest.fixture(autouse=True)
def _logger_levels_restored():
    """Entry points configure the library's logger and urllib3's (as in DSS's process): undo it after each test."""
    import logging

    loggers = [logging.getLogger(name) for name in ("flow_orchestrator", "urllib3")]
    saved = [(logger, logger.level, logger.handlers[:], logger.propagate) for logger in loggers]
    yield
    for logger, level, handlers, propagate in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
