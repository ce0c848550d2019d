"""The Propagate schema and Verify outputs macros and the Verify outputs step, run as DSS runs them, on the emulator.

Macros: exec ``runnable.py``, take its one strict ``Runnable`` subclass, construct it by arity and call ``run``.
Step: run ``step.py`` as a script with the ``DKU_PLUGIN_*`` variables (the ``dataiku`` double records the scenario).
"""

from __future__ import annotations

import inspect
import json
import logging
import runpy
from pathlib import Path

import pytest
from flow_orchestrator.config.propagate import PROPAGATE_FORM_FIELDS
from flow_orchestrator.config.verify import VERIFY_FORM_FIELDS
from flow_orchestrator.errors import ConfigError, VerificationFailed

ROOT = Path(__file__).resolve().parents[2]
PROPAGATE_DIR = ROOT / "python-runnables" / "propagate-schema"
VERIFY_DIR = ROOT / "python-runnables" / "verify-outputs"
VERIFY_STEP_DIR = ROOT / "python-steps" / "verify-outputs"


def _macro(path: Path, project_key: str, config: dict):
    """DSS's rule: exactly one strict ``Runnable`` subclass, constructed with as many arguments as it takes."""
    from dataiku.runnables import Runnable

    namespace = {"__name__": "runnable", "__file__": str(path)}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    [cls] = [v for v in namespace.values() if inspect.isclass(v) and issubclass(v, Runnable) and v is not Runnable]
    arity = len(inspect.getfullargspec(cls.__init__).args)
    return cls(*[project_key, json.loads(json.dumps(config)), {}][: arity - 1])


@pytest.fixture
def run_propagate_macro(dss_env, project_key):
    def run(config: dict):
        macro = _macro(PROPAGATE_DIR / "runnable.py", project_key, config)
        macro.get_progress_target()
        return macro.run(lambda progress: None)

    return run


@pytest.fixture
def run_verify_macro(dss_env, project_key):
    def run(config: dict):
        macro = _macro(VERIFY_DIR / "runnable.py", project_key, config)
        return macro.run(lambda progress: None)

    return run


@pytest.fixture
def run_verify_step(dss_env):
    import dataiku.scenario as scenario_double

    def run(step_config: dict):
        dss_env.setenv("DKU_PLUGIN_STEP_CONFIG", json.dumps(step_config))
        dss_env.setenv("DKU_PLUGIN_CONFIG", json.dumps({"config": step_config, "pluginConfig": {}}))
        scenario_double.RECORDED_CALLS.clear()
        try:
            runpy.run_path(str(VERIFY_STEP_DIR / "step.py"), run_name="__main__")
        finally:
            run.variables = scenario_double.recorded_variables()
            run.report_items = scenario_double.recorded_report_items()

    run.variables, run.report_items = {}, []
    return run


def _columns(dss, project_key, dataset):
    return [c["name"] for c in dss.client().get_project(project_key).get_dataset(dataset).get_schema()["columns"]]


# ------------------------------------------------------------------------------------------------ propagate


def _set_type(dss, project_key, dataset, column, new_type):
    handle = dss.client().get_project(project_key).get_dataset(dataset)
    schema = handle.get_schema()
    schema["columns"] = [dict(c, type=new_type) if c["name"] == column else c for c in schema["columns"]]
    handle.set_schema(schema)


def _drop(dss, project_key, dataset, column):
    handle = dss.client().get_project(project_key).get_dataset(dataset)
    schema = handle.get_schema()
    schema["columns"] = [c for c in schema["columns"] if c["name"] != column]
    handle.set_schema(schema)


def test_the_propagate_macro_previews_by_default_and_changes_nothing(run_propagate_macro, clinical_dss, project_key):
    _drop(clinical_dss, project_key, "LAB_RESULTS", "value")
    before = _columns(clinical_dss, project_key, "LAB_RESULTS_AGG")

    html = run_propagate_macro({"source_dataset": "LAB_RESULTS"})

    assert "Schema propagation preview" in html and "nothing was changed" in html
    assert "Recipes that would break" in html and 'data-recipe="group_LAB_RESULTS_AGG"' in html
    assert _columns(clinical_dss, project_key, "LAB_RESULTS_AGG") == before
    assert clinical_dss.job_starts(project_key) == 0


def test_the_propagate_macro_propagates_and_reports_the_diff(run_propagate_macro, clinical_dss, project_key):
    _set_type(clinical_dss, project_key, "LAB_RESULTS", "value", "int")

    html = run_propagate_macro(
        {
            "source_dataset": "LAB_RESULTS",
            "preview_only": False,
            "auto_rebuild": False,
            "stop_at": [],
            "mark_as_ok": [],
            "partition_values": [],
        }
    )

    schema = clinical_dss.client().get_project(project_key).get_dataset("LAB_RESULTS_AGG").get_schema()["columns"]
    assert {c["name"]: c["type"] for c in schema}["value_max"] == "int"
    assert 'data-dataset="LAB_RESULTS_AGG"' in html and 'data-change="type_changed"' in html
    assert "SUCCESS" in html and clinical_dss.job_starts(project_key) == 0


def test_the_propagate_macro_rejects_unknown_recipes_before_anything(run_propagate_macro, clinical_dss, project_key):
    _set_type(clinical_dss, project_key, "LAB_RESULTS", "value", "int")
    with pytest.raises(ConfigError, match="did you mean 'join_ML_TRAINING_DATA'"):
        run_propagate_macro({"source_dataset": "LAB_RESULTS", "preview_only": False, "stop_at": ["join_ML_TRAINING"]})
    schema = clinical_dss.client().get_project(project_key).get_dataset("LAB_RESULTS_AGG").get_schema()["columns"]
    assert {c["name"]: c["type"] for c in schema}["value_max"] == "double"


# ------------------------------------------------------------------------------------------------ verify


def test_the_verify_macro_returns_one_row_per_expectation(run_verify_macro):
    html = run_verify_macro(
        {
            "datasets": ["LAB_RESULTS", "CLINICAL_NOTES"],
            "expected_columns": ["patient_id:string"],
            "min_rows": 10,
            "capture_current": False,
            "expectations": "",
        }
    )
    assert "All 6 expectations passed" in html
    assert html.count('class="fo-expectation') == 6


def test_the_verify_step_passes_and_publishes_variables_and_report_items(run_verify_step, project_key):
    run_verify_step({"datasets": ["LAB_RESULTS"], "min_rows": 10})
    assert run_verify_step.variables["flow_orchestrator_verify_state"] == "PASSED"
    assert run_verify_step.variables["flow_orchestrator_verify_passed"] is True
    assert [item["report_item"]["kind"] for item in run_verify_step.report_items] == ["exists", "min_rows"]
    assert {item["object_ref"] for item in run_verify_step.report_items} == {f"{project_key}.LAB_RESULTS"}


def test_the_verify_step_fails_naming_each_error_and_warns_for_warn(run_verify_step, caplog):
    spec = {
        "version": 1,
        "datasets": {
            "LAB_RESULTS": {"max_rows": {"value": 5, "severity": "WARN"}},
            "CLINICAL_NOTES": {"columns": {"mode": "contains", "items": [{"name": "note_txt"}]}},
        },
    }
    with caplog.at_level(logging.WARNING), pytest.raises(VerificationFailed) as caught:
        run_verify_step({"datasets": ["LAB_RESULTS"], "min_rows": 100000, "expectations": json.dumps(spec)})
    message = str(caught.value)
    assert "2 of 4 expectations failed" in message
    assert "LAB_RESULTS min_rows: expected at least 100000 rows, found 300" in message
    assert 'CLINICAL_NOTES columns: missing column: "note_txt"' in message
    assert "max_rows" not in message  # WARN: logged, not failing
    assert any(
        "expected at most 5 rows" in record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING
    )
    assert run_verify_step.variables["flow_orchestrator_verify_failed_error"] == 2
    assert run_verify_step.variables["flow_orchestrator_verify_failed_warn"] == 1


def test_the_verify_step_captures(run_verify_step):
    run_verify_step({"datasets": ["LAB_RESULTS"], "capture_current": True})
    captured = json.loads(run_verify_step.variables["flow_orchestrator_captured_expectations"])
    assert captured["datasets"]["LAB_RESULTS"]["min_rows"] == 150


def test_a_malformed_spec_fails_the_step_with_its_json_path(run_verify_step):
    with pytest.raises(ConfigError, match=r"expectations \(datasets\.LAB_RESULTS\.min_rows\)"):
        run_verify_step({"expectations": json.dumps({"version": 1, "datasets": {"LAB_RESULTS": {"min_rows": -2}}})})
    assert run_verify_step.variables == {}


# ------------------------------------------------------------------------------------------------ descriptors


def _params(path: Path) -> dict:
    return {p["name"]: p for p in json.loads(path.read_text(encoding="utf-8"))["params"] if "name" in p}


FIELD_TYPES = {
    "source_dataset": ("DATASET",),
    "auto_rebuild": ("BOOLEAN",),
    "stop_at": ("STRINGS", "MULTISELECT"),
    "mark_as_ok": ("STRINGS", "MULTISELECT"),
    "partition_values": ("STRINGS",),
    "preview_only": ("BOOLEAN",),
    "datasets": ("DATASETS",),
    "expectations": ("TEXTAREA",),
    "expected_columns": ("STRINGS",),
    "min_rows": ("INT",),
    "capture_current": ("BOOLEAN",),
    "dss_instance": ("PRESET",),
}


@pytest.mark.parametrize(
    "path, fields",
    [
        (PROPAGATE_DIR / "runnable.json", [f for f in PROPAGATE_FORM_FIELDS if f != "timeout_s"]),
        (VERIFY_DIR / "runnable.json", list(VERIFY_FORM_FIELDS)),
        (VERIFY_STEP_DIR / "step.json", list(VERIFY_FORM_FIELDS)),
    ],
    ids=["propagate-macro", "verify-macro", "verify-step"],
)
def test_descriptors_declare_every_field_the_code_reads(path, fields):
    params = _params(path)
    for name in fields + ["dss_instance"]:
        assert name in params, f"{path.name} lacks {name}"
        assert params[name]["type"] in FIELD_TYPES[name], f"{path.name}: {name} is {params[name]['type']}"


#: The JSON type DSS sends for each parameter type, which the field's schema property must allow (None: the shell
#: checks it, the schema lets any value through).
DSS_TYPE_TO_SCHEMA = {
    "DATASET": ("string",),
    "SELECT": ("string",),
    "DATASETS": ("array",),
    "MULTISELECT": ("array",),
    "STRINGS": ("array",),
    "BOOLEAN": ("boolean",),
    "INT": ("integer",),
    "TEXTAREA": ("string",),
    "PRESET": None,
}
FORM_SCHEMAS = [
    (PROPAGATE_DIR / "runnable.json", "propagate-config.schema.json", "macro"),
    (VERIFY_DIR / "runnable.json", "verify-config.schema.json", None),
    (VERIFY_STEP_DIR / "step.json", "verify-config.schema.json", None),
]


@pytest.mark.parametrize(
    ("path", "schema", "definition"), FORM_SCHEMAS, ids=["propagate-macro", "verify-macro", "verify-step"]
)
def test_every_form_field_has_its_schema_property_and_every_property_its_form_field(path, schema, definition):
    """A new form field without a schema property (or a property for a field the form lost) fails here."""
    from flow_orchestrator.config.validation import property_types, schema_properties

    fields = _params(path)
    properties = schema_properties(schema, definition)
    types = property_types(schema, (definition,))
    assert sorted(set(fields) - set(properties)) == [], f"{path.name}: form fields {schema} does not check"
    assert sorted(set(properties) - set(fields)) == [], f"{schema}: properties of no field of {path.name}"
    for name, param in fields.items():
        prop = properties[name]
        wanted = DSS_TYPE_TO_SCHEMA[param["type"]]
        declared = types[name]
        if wanted is None:
            assert declared == (), f"{path.name}: {name} is checked by the shell, the schema says {declared}"
        else:
            assert set(wanted) <= set(declared), f"{path.name}: {name} is {param['type']}, the schema says {declared}"
        if "minI" in param:
            assert prop.get("minimum") == param["minI"], f"{name}: the form and the schema disagree on the least value"
        assert bool(param.get("mandatory")) == (name in _required(schema, definition)), f"{name}: mandatory?"


def _required(schema: str, definition) -> set:
    from flow_orchestrator.config.validation import load_schema

    document = load_schema(schema)
    node = document if definition is None else document["$defs"][definition]
    required = set(node.get("required", ()))
    while "$ref" in node:
        node = document["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        required |= set(node.get("required", ()))
    return required


def test_macro_roles_target_declared_fields():
    for path, role, key in ((PROPAGATE_DIR, "DATASET", "source_dataset"), (VERIFY_DIR, "DATASETS", "datasets")):
        descriptor = json.loads((path / "runnable.json").read_text(encoding="utf-8"))
        roles = {r["type"]: r.get("targetParamsKey") for r in descriptor["macroRoles"]}
        assert roles == {"PROJECT_MACROS": None, role: key} and key in _params(path / "runnable.json")
        assert descriptor["resultType"] == "HTML"
