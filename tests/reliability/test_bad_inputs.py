"""Bad input across every door (macro forms, step config, command line, expectation specs, propagation form, graph
payloads, flow files): each case must fail with a clear error naming the field or object and the fix, before any job.

The cases run against one emulator on the clinical flow that nothing ever builds: after each case the test asserts
``dss.job_starts("CLINICAL") == 0``, so a bad input that slips through to a job start is caught at the case that let it.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import socket
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import pytest
from flow_orchestrator import cli
from flow_orchestrator.config.verify import parse_verify_config
from flow_orchestrator.errors import FlowOrchestratorError
from flow_orchestrator.expectations import parse_expectations
from flow_orchestrator.pipeline import run_build
from flow_orchestrator.shells.macros import run_build_macro, run_propagate_macro, run_verify_macro
from flow_orchestrator.shells.steps import run_recipes_step

from dss_emulator import EmulatedDSS
from dss_emulator.flowfile import FlowFileError
from tests.plugin.conftest import MACRO_PY, STEP_PY, instantiate_runnable, load_runnable_class
from tests.reliability.harness import CLINICAL, READ_ONLY_KEY, build_config, fast_clinical_flow, gateway_for
from tests.unit.flow_payloads import flow as flow_payload

pytestmark = pytest.mark.emulator_only

WRONG_KEY = "wrong-key-7f3a9c"
DAILY = "DAILY"  # examples/flows/partitioned.json: day-partitioned ORDERS_CLEAN and ORDERS_BY_STORE
PARTITIONED_FLOW = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "flows", "partitioned.json")


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CLOSED_URL = f"http://127.0.0.1:{_closed_port()}"


@pytest.fixture(scope="module")
def quiet_dss():
    """The clinical flow on an emulator no case may start a job on."""
    with EmulatedDSS.start(flows=[fast_clinical_flow(), PARTITIONED_FLOW], read_only_api_key=READ_ONLY_KEY) as dss:
        yield dss
        assert dss.job_starts(CLINICAL) == 0
        assert dss.job_starts(DAILY) == 0


class _Scenario:
    """Records what the step would publish (a bad input must publish nothing)."""

    def __init__(self):
        self.calls = []

    def set_scenario_variables(self, **values):
        self.calls.append(("variables", values))

    def add_report_item(self, *args):
        self.calls.append(("item", args))


# ------------------------------------------------------------------------------------------------ doors


def macro(form: dict, project_key: str = CLINICAL, api_key: Optional[str] = None) -> Callable:
    def call(dss):
        return run_build_macro(form, {}, client=dss.client(api_key), project_key=project_key)

    return call


def step(step_config: dict, plugin_config: Optional[dict] = None) -> Callable:
    def call(dss):
        scenario = _Scenario()
        try:
            run_recipes_step(
                step_config,
                plugin_config or {"config": step_config},
                client=dss.client(),
                project_key=CLINICAL,
                scenario=scenario,
            )
        finally:
            assert scenario.calls == [], "the step published variables for a configuration it rejected"

    return call


def command(*argv: str, key: Optional[str] = None, url: Optional[str] = None, project: Optional[str] = CLINICAL):
    """``flow-orchestrator build ...`` against the emulator (``{url}`` / key / project filled in)."""

    def call(dss):
        args = list(argv)
        if "--url" not in args and args[0] != "resume":
            args += ["--url", url or dss.url]
        if project and "--project" not in args and args[0] != "resume":
            args += ["--project", project]
        if args[0] == "resume":
            args += ["--url", url or dss.url]
        args += ["--api-key", key or dss.api_key, "--quiet"]
        try:
            return cli.main(args)
        except SystemExit as exit_:  # argparse's own errors exit (with code 2) instead of returning
            return exit_.code

    return call


@contextlib.contextmanager
def _dss_process_env(dss, **variables):
    """The environment DSS gives a plugin process (read by the ``dataiku`` test double), restored afterwards."""
    values = {"DKU_TEST_DSS_URL": dss.url, "DKU_TEST_DSS_API_KEY": dss.api_key, "DKU_CURRENT_PROJECT_KEY": CLINICAL}
    values.update(variables)
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def macro_shell(form: dict) -> Callable:
    """The real ``runnable.py``, found and built the way DSS does, then run."""

    def call(dss):
        with _dss_process_env(dss):
            macro = instantiate_runnable(load_runnable_class(MACRO_PY), CLINICAL, form, {})
            return macro.run(lambda done: None)

    return call


def step_shell(step_config: dict) -> Callable:
    """The real ``step.py``, run as DSS runs it: a script reading its config from environment variables."""

    def call(dss):
        config = json.dumps(step_config)
        plugin = json.dumps({"config": step_config, "pluginConfig": {}})
        with _dss_process_env(dss, DKU_PLUGIN_STEP_CONFIG=config, DKU_PLUGIN_CONFIG=plugin):
            return runpy.run_path(str(STEP_PY), run_name="__main__")

    return call


def spec(value) -> Callable:
    def call(dss):
        return parse_expectations(value)

    return call


def verify_form(form: dict) -> Callable:
    def call(dss):
        return run_verify_macro(form, {}, client=dss.client(), project_key=CLINICAL)

    return call


def propagate_form(form: dict) -> Callable:
    def call(dss):
        return run_propagate_macro(form, {}, client=dss.client(), project_key=CLINICAL)

    return call


def graph(payload: dict) -> Callable:
    """``run_build`` on a project whose Flow graph answer is ``payload``."""

    def call(dss):
        gateway = gateway_for(dss, CLINICAL)
        gateway.flow_graph_payload = lambda: payload
        return run_build(gateway, build_config())

    return call


def flow_file(mutate: Callable[[dict], None]) -> Callable:
    def call(dss):
        flow = fast_clinical_flow()
        flow["projectKey"] = "BROKEN"
        mutate(flow)
        return dss.load_flow(flow)

    return call


def _cycle(flow: dict) -> None:
    flow["recipes"][0]["inputs"] = ["MODEL_SCORES"]  # LAB_RESULTS_AGG <- ... <- MODEL_SCORES <- ... LAB_RESULTS_AGG


def _rename(index: int, name: str) -> Callable[[dict], None]:
    def mutate(flow: dict) -> None:
        flow["recipes"][index]["name"] = name

    return mutate


def _duplicate_recipe(flow: dict) -> None:
    flow["recipes"][1]["name"] = flow["recipes"][0]["name"]


def with_history_folder(name: str, door: Callable[[dict], Callable], config: dict) -> Callable:
    """``door(config)`` with ``record_folder`` set to a new, empty managed folder called ``name``."""

    def call(dss):
        folder_id = dss.client().get_project(CLINICAL).create_managed_folder(name).id
        return door(dict(config, record_folder=folder_id))(dss)

    return call


def cli_resume_from_empty_folder(dss):
    dss.client().get_project(CLINICAL).create_managed_folder("CLI history")
    return command("resume", "--record-folder", "CLI history", "--project", CLINICAL)(dss)


# ------------------------------------------------------------------------------------------------ the corpus


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable
    expect: Tuple[str, ...]  # every one must appear in the message (case-insensitive): the field/object and the fix
    forbid: Tuple[str, ...] = ()  # wrong advice that must not appear
    bug: Optional[str] = None  # a known library bug: the case is a strict xfail until it is fixed


LAB, NOTES, JOIN = "group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG", "join_ML_TRAINING_DATA"
CYCLE_PAYLOAD = flow_payload(
    {"a_recipe": (["ds_c"], ["ds_a"]), "b_recipe": (["ds_a"], ["ds_b"]), "c_recipe": (["ds_b"], ["ds_c"])},
    project_key=CLINICAL,
)
DANGLING_PAYLOAD = flow_payload({"a_recipe": (["ds_in"], ["ds_a"])}, project_key=CLINICAL)
DANGLING_PAYLOAD["nodes"]["a_recipe"]["successors"].append("ds_ghost")

CASES = [
    # --- Build pipeline macro form ---------------------------------------------------------------------------
    Case(
        "macro-unknown-recipe",
        macro({"recipes": ["group_LAB_RESULT_AGG"]}),
        ("group_LAB_RESULT_AGG", "did you mean", LAB),
    ),
    Case("macro-unknown-target", macro({"targets": ["LAB_RESULTS_AG"]}), ("LAB_RESULTS_AG", "did you mean")),
    Case("macro-unknown-in-select", macro({"select": "+nope_recipe+"}), ("select", "nope_recipe")),
    Case("macro-malformed-select", macro({"select": "++"}), ("select", "++")),
    Case(
        "macro-unknown-zone-in-select", macro({"select": "zone:Lab_result"}), ("select", "did you mean", "Lab results")
    ),
    Case("macro-zone-without-name", macro({"select": "+zone:"}), ("select", "zone: needs a value")),
    Case("macro-deleted-zone", macro({"zones": ["zDeleted"]}), ("zones", "zDeleted", "not a Flow zone", "Lab results")),
    Case("macro-zones-wrong-type", macro({"zones": 7}), ("zones", "list")),
    Case(
        "macro-unquoted-zone-with-space",
        macro({"select": "zone:Machine learning"}),
        ("select", "'Machine'", 'quote a zone name with spaces: zone:"Machine learning"'),
    ),
    Case("macro-unknown-in-exclude", macro({"exclude": "group_LAB"}), ("exclude", "group_LAB")),
    Case("macro-exclude-everything", macro({"recipes": [LAB], "exclude": LAB}), ("exclude", "empty")),
    Case(
        "macro-unknown-build-mode", macro({"build_mode": "FAST_BUILD"}), ("build_mode", "FAST_BUILD", "RECURSIVE_BUILD")
    ),
    Case("macro-unknown-strategy", macro({"strategy": "parallel"}), ("strategy", "per-recipe", "single-job")),
    Case("macro-unknown-on-failure", macro({"on_failure": "ignore"}), ("on_failure", "fail-fast", "continue")),
    Case("macro-max-parallel-zero", macro({"max_parallel": 0}), ("max_parallel", "between 1 and 100", "got 0")),
    Case("macro-max-parallel-negative", macro({"max_parallel": -3}), ("max_parallel", "-3")),
    Case("macro-max-parallel-huge", macro({"max_parallel": 10**9}), ("max_parallel", "100")),
    Case("macro-max-parallel-text", macro({"max_parallel": "four"}), ("max_parallel", "whole number", "four")),
    Case("macro-max-parallel-fraction", macro({"max_parallel": 2.5}), ("max_parallel", "whole number")),
    Case("macro-retries-negative", macro({"retries": -1}), ("retries", "between 0 and 10")),
    Case("macro-retries-huge", macro({"retries": 1000}), ("retries", "10")),
    Case("macro-timeout-negative", macro({"timeout_minutes": -5}), ("timeout_minutes", "minutes")),
    Case("macro-timeout-text", macro({"timeout_minutes": "ten"}), ("timeout_minutes", "number")),
    Case("macro-timeout-huge", macro({"timeout_minutes": 1e308, "dry_run": True}), ("timeout_minutes", "at most")),
    Case("macro-dry-run-not-boolean", macro({"dry_run": "maybe"}), ("dry_run", "true or false")),
    Case("macro-recipes-wrong-type", macro({"recipes": 42}), ("recipes", "list")),
    Case("macro-select-wrong-type", macro({"select": 5}), ("select", "list")),
    Case(
        "macro-bad-transient-regex",
        macro({"transient_patterns": ["(unclosed"]}),
        ("transient_patterns", "(unclosed", "regular expression"),
    ),
    Case(
        "macro-name-with-quotes", macro({"recipes": ["group_LAB\"RESULTS'AGG"]}), ('group_LAB"RESULTS', "did you mean")
    ),
    Case(
        "macro-name-unicode", macro({"recipes": ["grüppe_LAB_RESULTS_AGG"]}), ("grüppe_LAB_RESULTS_AGG", "did you mean")
    ),
    Case("macro-name-html", macro({"recipes": ["<script>alert(1)</script>"]}), ("<script>alert(1)</script>", "recipe")),
    Case("macro-resume-without-record", macro({"resume_last_run": True}), ("resume", "no previous run record")),
    Case(
        "macro-unknown-record-folder",
        macro({"record_folder": "nOsUcHiD"}),
        ("record_folder", "nOsUcHiD", "managed folder", CLINICAL),
    ),
    Case("macro-record-folder-wrong-type", macro({"record_folder": 42}), ("record_folder", "text")),
    Case(
        "macro-keep-runs-negative",
        with_history_folder("Kept runs", macro, {"keep_runs": -1}),
        ("keep_runs", "at least 0", "got -1"),
    ),
    Case("macro-keep-runs-text", macro({"keep_runs": "thirty"}), ("keep_runs", "whole number", "thirty")),
    Case("macro-keep-runs-fraction", macro({"keep_runs": 2.5}), ("keep_runs", "whole number")),
    Case(
        "macro-resume-from-an-empty-history-folder",
        with_history_folder("Macro history", macro, {"resume_last_run": True}),
        ("resume", "no previous run record"),
    ),
    Case("macro-preset-without-url", macro({"dss_instance": {"api_key": "k"}}), ("dss_instance.url", "preset")),
    Case(
        "macro-preset-unresolved",
        macro({"dss_instance": {"mode": "PRESET", "name": "prod"}}),
        ("dss_instance", "prod", "not resolved"),
    ),
    Case(
        "macro-preset-unreachable-url",
        macro({"dss_instance": {"url": CLOSED_URL, "api_key": "k"}}),
        (CLOSED_URL, "cannot reach"),
    ),
    Case(
        "macro-preset-bad-url",
        macro({"dss_instance": {"url": "dss.example.com", "api_key": "k"}}),
        ("dss.example.com", "https://"),
    ),
    Case("macro-wrong-api-key", macro({}, api_key=WRONG_KEY), ("api key", "check the key")),
    Case(
        "macro-unknown-project",
        macro({}, project_key="NO_SUCH_PROJECT"),
        ("NO_SUCH_PROJECT", "project"),
        forbid=("rejected the API key",),
    ),
    # --- Run recipes step config ---------------------------------------------------------------------------
    Case("step-duplicate-recipe", step({"recipes": [LAB, LAB]}), ("recipes", LAB, "more than once")),
    Case("step-order-contradicts-flow", step({"recipes": [JOIN, LAB]}), (JOIN, LAB, "reorder")),
    Case("step-unknown-recipe", step({"recipes": [LAB, "join_ML_TRAINING"]}), ("join_ML_TRAINING", "did you mean")),
    Case("step-unknown-zone", step({"recipes": [LAB], "zones": ["Clinical note"]}), ("zones", "did you mean")),
    Case(
        "step-parallel-not-boolean", step({"recipes": [LAB], "parallel": "yes please"}), ("parallel", "true or false")
    ),
    Case("step-max-parallel-zero", step({"recipes": [LAB], "max_parallel": 0}), ("max_parallel", "between 1 and 100")),
    Case("step-retries-fraction", step({"recipes": [LAB], "retries": 2.5}), ("retries", "whole number")),
    Case("step-timeout-text", step({"recipes": [LAB], "timeout_minutes": "ten"}), ("timeout_minutes", "number")),
    Case(
        "step-unknown-build-mode",
        step({"recipes": [LAB], "build_mode": "Build everything please"}),
        ("build_mode", "Build only this"),
    ),
    Case(
        "step-policy-preset-bad-value",
        step({"recipes": [LAB]}, {"config": {"pipeline_policy": {"max_parallel": -2}}}),
        ("max_parallel", "between 1 and 100", "got -2"),
    ),
    Case(
        "step-unknown-record-folder",
        step({"recipes": [LAB], "record_folder": "nOsUcHiD"}),
        ("record_folder", "nOsUcHiD", "choose"),
    ),
    Case(
        "step-keep-runs-negative",
        with_history_folder("Step kept runs", step, {"recipes": [LAB], "keep_runs": -5}),
        ("keep_runs", "at least 0", "got -5"),
    ),
    Case("step-keep-runs-text", step({"recipes": [LAB], "keep_runs": "all"}), ("keep_runs", "whole number", "all")),
    Case(
        "step-policy-keep-runs-text",
        step({"recipes": [LAB]}, {"config": {"pipeline_policy": {"keep_runs": "a month"}}}),
        ("keep_runs", "whole number", "a month"),
    ),
    Case("step-shell-keep-runs-negative", step_shell({"recipes": [LAB], "keep_runs": -1}), ("keep_runs", "at least 0")),
    Case(
        "step-record-name-not-a-file-name",
        with_history_folder("Step history", step, {"recipes": [LAB], "record_name": "../nightly"}),
        ("record_name", "../nightly", "'/'"),
    ),
    Case("step-shell-order-contradicts-flow", step_shell({"recipes": [JOIN, LAB]}), (JOIN, LAB, "reorder")),
    Case(
        "step-shell-unknown-record-folder",
        step_shell({"recipes": [LAB], "record_folder": "nOsUcHiD"}),
        ("record_folder", "nOsUcHiD"),
    ),
    Case("macro-shell-max-parallel-zero", macro_shell({"max_parallel": 0}), ("max_parallel", "between 1 and 100")),
    Case("macro-shell-unknown-target", macro_shell({"targets": ["ML_TRAINING"]}), ("ML_TRAINING", "did you mean")),
    # --- command line ----------------------------------------------------------------------------------------
    Case("cli-max-parallel-zero", command("build", "--max-parallel", "0"), ("--max-parallel", "between 1 and 100")),
    Case("cli-max-parallel-not-int", command("build", "--max-parallel", "lots"), ("--max-parallel", "lots")),
    Case("cli-on-failure-choice", command("build", "--on-failure", "maybe"), ("--on-failure", "fail-fast")),
    Case("cli-unknown-mode", command("build", "--mode", "NOPE"), ("--mode", "NOPE", "RECURSIVE_BUILD")),
    Case("cli-negative-timeout", command("build", "--timeout", "-1"), ("--timeout", "seconds")),
    Case("cli-negative-retries", command("build", "--retries", "-2"), ("--retries", "between 0 and 10")),
    Case("cli-empty-recipe-list", command("build", "--recipes"), ("--recipes", "expected at least one")),
    Case("cli-no-project", command("build", project=None), ("--project", "DSS_PROJECT")),
    Case("cli-unreachable-url", command("build", url=CLOSED_URL), (CLOSED_URL, "cannot reach")),
    Case("cli-not-a-url", command("build", url="localhost:11200"), ("localhost:11200", "https://")),
    Case("cli-wrong-api-key", command("build", key=WRONG_KEY), ("api key", "DSS_API_KEY")),
    Case(
        "cli-unknown-project", command("build", project="NOPE"), ("NOPE", "project"), forbid=("rejected the API key",)
    ),
    Case("cli-unknown-recipe", command("build", "--recipes", "train_MODEL"), ("train_MODEL", "did you mean")),
    Case(
        "cli-unknown-zone",
        command("build", "--select", "+zone:Machine_lerning"),
        ("select", "not a Flow zone", "did you mean", "Machine learning"),
    ),
    Case("cli-ordered-contradicts-flow", command("build", "--ordered", "--recipes", JOIN, LAB), (JOIN, LAB, "reorder")),
    Case(
        "cli-ordered-duplicate", command("build", "--ordered", "--recipes", LAB, LAB), ("--recipes", "more than once")
    ),
    Case("cli-bad-transient-regex", command("build", "--transient-pattern", "[oops"), ("--transient-pattern", "[oops")),
    Case("cli-all-with-recipes", command("build", "--all", "--recipes", LAB), ("--all", "leave")),
    Case(
        "cli-unknown-record-folder",
        command("build", "--record-folder", "nOsUcHiD"),
        ("--record-folder", "nOsUcHiD", "managed folder"),
    ),
    Case("cli-resume-without-a-record", command("resume"), ("--record", "--record-folder")),
    Case(
        "cli-keep-runs-negative",
        command("build", "--record-folder", "nOsUcHiD", "--keep-runs", "-1"),
        ("--keep-runs", "at least 0", "got -1"),
    ),
    Case(
        "cli-keep-runs-text", command("build", "--keep-runs", "thirty"), ("--keep-runs", "invalid int value", "thirty")
    ),
    Case("cli-keep-runs-without-a-folder", command("build", "--keep-runs", "5"), ("--keep-runs", "--record-folder")),
    Case(
        "cli-resume-empty-history-folder",
        cli_resume_from_empty_folder,
        ("--record-folder", "last_run/cli.json", "--record FILE"),
    ),
    Case(
        "cli-resume-missing-record",
        command("resume", "--record", "/nonexistent/record.json"),
        ("/nonexistent/record.json", "does not exist"),
    ),
    # --- expectation specs -----------------------------------------------------------------------------------
    Case(
        "spec-malformed-json",
        spec('{"version": 1, "datasets": {"X": {"min_rows": 1}'),
        ("expectations", "not valid JSON", "line 1"),
    ),
    Case(
        "spec-duplicate-key",
        spec('{"version": 1, "datasets": {"X": {"min_rows": 1, "min_rows": 2}}}'),
        ("min_rows", "twice"),
    ),
    Case("spec-missing-version", spec({"datasets": {"ORDERS": {"not_empty": True}}}), ("version",)),
    Case("spec-no-dataset", spec({"version": 1, "datasets": {}}), ("datasets", "at least 1")),
    Case(
        "spec-empty-column-list",
        spec({"version": 1, "datasets": {"ORDERS": {"columns": []}}}),
        ("datasets.ORDERS.columns", "empty"),
    ),
    Case(
        "spec-min-rows-text",
        spec({"version": 1, "datasets": {"ORDERS": {"min_rows": "ten"}}}),
        ("datasets.ORDERS.min_rows", "ten"),
    ),
    Case(
        "spec-min-rows-negative",
        spec({"version": 1, "datasets": {"ORDERS": {"min_rows": -1}}}),
        ("datasets.ORDERS.min_rows", "-1"),
    ),
    Case(
        "spec-unknown-kind",
        spec({"version": 1, "datasets": {"ORDERS": {"colums": ["id"]}}}),
        ("datasets.ORDERS", "colums"),
    ),
    Case(
        "spec-columns-not-a-list",
        spec({"version": 1, "datasets": {"ORDERS": {"columns": "id"}}}),
        ("datasets.ORDERS.columns",),
    ),
    Case(
        "spec-unknown-severity",
        spec({"version": 1, "datasets": {"ORDERS": {"not_empty": {"severity": "FATAL"}}}}),
        ("datasets.ORDERS", "FATAL"),
    ),
    Case("spec-top-level-list", spec("[1, 2]"), ("object",)),
    Case("verify-nothing-to-verify", verify_form({}), ("datasets", "nothing to verify")),
    Case(
        "verify-bad-column-type",
        verify_form({"datasets": ["LAB_RESULTS"], "expected_columns": ["id:strin"]}),
        ("expected_columns[0]", "strin"),
    ),
    Case(
        "verify-capture-unknown-dataset",
        verify_form({"datasets": ["LAB_RESULT"], "capture_current": True}),
        ("LAB_RESULT", "did you mean", "LAB_RESULTS"),
    ),
    Case(
        "verify-min-rows-negative",
        lambda dss: parse_verify_config({"datasets": ["X"], "min_rows": -4}),
        ("min_rows", "-4"),
    ),
    # --- Propagate schema form -------------------------------------------------------------------------------
    Case("propagate-no-source", propagate_form({}), ("source_dataset", "choose")),
    Case(
        "propagate-unknown-source",
        propagate_form({"source_dataset": "LAB_RESULT", "preview_only": False}),
        ("LAB_RESULT", "did you mean"),
    ),
    Case(
        "propagate-unknown-stop-at",
        propagate_form({"source_dataset": "LAB_RESULTS", "stop_at": ["join_ML"], "preview_only": False}),
        ("stop_at[0]", "join_ML"),
    ),
    Case(
        "propagate-bad-partition",
        propagate_form({"source_dataset": "LAB_RESULTS", "partition_values": ["2024"]}),
        ("partition", "2024"),
    ),
    # --- Flow graphs the library cannot schedule ---------------------------------------------------------------
    Case("graph-cycle", graph(CYCLE_PAYLOAD), ("cycle", "a_recipe", "b_recipe")),
    Case("graph-dangling-reference", graph(DANGLING_PAYLOAD), ("ds_ghost",)),
    Case("graph-no-nodes", graph({"items": []}), ("nodes",)),
    # --- flow files the emulator must refuse -----------------------------------------------------------------
    Case("flowfile-cycle", flow_file(_cycle), ("recipes[0]", "cycle", "break the cycle")),
    Case("flowfile-name-with-slash", flow_file(_rename(0, "group/LAB")), ("recipes[0].name", "group/LAB", "slash")),
    Case("flowfile-duplicate-recipe", flow_file(_duplicate_recipe), ("recipes[1].name", LAB, "rename")),
    # --- partitioned builds ----------------------------------------------------------------------------------
    Case(
        "macro-partitioned-outputs-without-partitions",
        macro({"targets": ["ORDERS_BY_STORE"]}, project_key=DAILY),
        ("partitions", "ORDERS_BY_STORE by day", "2026-12-05"),
        forbid=("ORDERS_CLEAN",),
    ),
    Case(
        "macro-partitioned-recursive-without-partitions",
        macro({"targets": ["ORDERS_BY_STORE"], "build_mode": "RECURSIVE_FORCED_BUILD"}, project_key=DAILY),
        ("partitions", "ORDERS_CLEAN", "ORDERS_BY_STORE"),
    ),
    Case(
        "cli-partitioned-outputs-without-partitions",
        command("build", "--project", DAILY, "--all"),
        ("partitions", "ORDERS_CLEAN", "ORDERS_BY_STORE", "--partitions"),
    ),
    Case(
        "cli-partitions-empty-item",
        command("build", "--project", DAILY, "--all", "--partitions", "2026-12-01,,2026-12-02"),
        ("--partitions", "item 2", "empty"),
    ),
    Case("macro-partitions-empty-item", macro({"partitions": "2026-12-05,"}), ("partitions", "item 2", "empty")),
    Case(
        "step-partitions-on-an-unpartitioned-flow",
        step({"partitions": "2026-12-05"}),
        ("partitions", "2026-12-05", "no dataset the plan builds is partitioned"),
    ),
]


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_is_rejected_with_a_clear_error_before_any_job(quiet_dss, capsys, case):
    if case.id.startswith("cli-"):
        code = case.run(quiet_dss)
        out, err = capsys.readouterr()
        assert code == cli.EXIT_BAD_INPUT, f"exit code {code}, stderr: {err}"
        message = err
        assert quiet_dss.api_key not in out + err, "the API key was printed"
    else:
        with pytest.raises((FlowOrchestratorError, FlowFileError)) as raised:
            case.run(quiet_dss)
        message = str(raised.value)
    for needle in case.expect:
        assert needle.lower() in message.lower(), f"{needle!r} missing from the message:\n{message}"
    for wrong in case.forbid:
        assert wrong.lower() not in message.lower(), f"wrong advice {wrong!r} in the message:\n{message}"
    assert quiet_dss.job_starts(CLINICAL) == 0, "a job started for a bad input"
    assert "Traceback" not in message


def test_the_corpus_is_large_enough(capsys):
    """The closing note's figure: bad inputs per door (each case asserts its own rejection)."""
    doors = Counter(case.id.split("-")[0] for case in CASES)
    with capsys.disabled():
        print(
            f"\nbad inputs: {len(CASES)} cases ({', '.join(f'{door} {n}' for door, n in doors.items())}), "
            f"{sum(1 for c in CASES if c.bug)} of them known bugs (strict xfail)"
        )
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    assert all(case.expect for case in CASES)
