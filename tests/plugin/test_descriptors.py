"""The plugin's descriptors agree with the code that reads them (issue 7 item 2, consistency part).

Strict JSON everywhere; every field the entry points read exists with a type they can read; every dynamic-choice
field is answered by its resource script; visibility conditions name real fields; defaults match their types.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from flow_orchestrator.config import BUILD_MODE_LABELS, BUILD_MODES
from flow_orchestrator.shells import choices, forms

ROOT = Path(__file__).resolve().parents[2]
MACRO = ROOT / "python-runnables" / "build-pipeline" / "runnable.json"
STEP = ROOT / "python-steps" / "run-recipes" / "step.json"
INSTANCE_SET = ROOT / "parameter-sets" / "dss-instance" / "parameter-set.json"
POLICY_SET = ROOT / "parameter-sets" / "pipeline-policy" / "parameter-set.json"


def all_descriptors():
    patterns = (
        "plugin.json",
        "code-env/python/desc.json",
        "python-runnables/*/runnable.json",
        "python-steps/*/step.json",
        "parameter-sets/*/parameter-set.json",
    )
    return sorted(p for pattern in patterns for p in ROOT.glob(pattern))


def component_descriptors():
    return [p for p in all_descriptors() if p.name in ("runnable.json", "step.json", "parameter-set.json")]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def params_of(path: Path) -> dict:
    return {p["name"]: p for p in load(path).get("params", []) if p.get("type") != "SEPARATOR"}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ------------------------------------------------------------------------------------------- strict JSON


@pytest.mark.parametrize("path", all_descriptors(), ids=_rel)
def test_descriptor_is_strict_json(path):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"{_rel(path)}: duplicate keys {keys}"
        return dict(pairs)

    json.loads(
        path.read_text(encoding="utf-8"),
        object_pairs_hook=no_duplicates,
        parse_constant=lambda c: pytest.fail(f"{_rel(path)}: non-standard constant {c}"),
    )


def test_the_plugin_components_exist():
    for path in (MACRO, STEP, INSTANCE_SET, POLICY_SET):
        assert path.is_file(), _rel(path)


# ------------------------------------------------------------------------------------------- fields the code reads


def _check_types(path: Path, names, types: dict):
    params = params_of(path)
    for name in names:
        assert name in params, f"{_rel(path)} has no field {name!r}, which the code reads"
        assert params[name]["type"] in types[name], (
            f"{_rel(path)}: field {name!r} is {params[name]['type']}, the code reads it as one of {types[name]}"
        )


def test_macro_has_every_field_the_entry_points_read():
    _check_types(MACRO, forms.MACRO_FIELDS + forms.PRESET_FIELDS, forms.FIELD_TYPES)


def test_step_has_every_field_the_entry_points_read():
    names = forms.STEP_FIELDS + forms.PRESET_FIELDS + forms.STEP_ONLY_FIELDS
    _check_types(STEP, names, forms.FIELD_TYPES)


def test_every_build_field_of_the_forms_goes_through_the_config_schema():
    """The forms' build fields are validated by build-config.schema.json (the one config path), none bypasses it."""
    from flow_orchestrator.config import load_schema

    definitions = load_schema("build-config.schema.json")["$defs"]
    for source, fields in (("macro", forms.MACRO_FIELDS), ("step", forms.STEP_FIELDS)):
        known = set(definitions["common"]["properties"]) | set(definitions[source]["properties"])
        assert set(fields) <= known, f"{source} fields missing from the config schema: {sorted(set(fields) - known)}"


def test_the_history_folder_field_reaches_the_build_config():
    form = {"record_folder": "a1B2c3D4"}
    assert forms.macro_build_config(form).record_folder == "a1B2c3D4"
    assert forms.step_build_config(form).record_folder == "a1B2c3D4"
    assert forms.macro_build_config({"record_folder": ""}).record_folder is None  # empty: no folder


def test_the_partitions_field_is_a_string_on_both_forms_and_reaches_the_build_config():
    for form in (MACRO, STEP):
        field = params_of(form)["partitions"]
        assert field["type"] == "STRING" and field["label"] == "Partitions", _rel(form)
        assert field.get("defaultValue", "") == "", f"{_rel(form)}: empty by default"
        assert "2026-12-05" in field["description"], f"{_rel(form)}: the description gives an example"
    assert forms.FIELD_TYPES["partitions"] == ("STRING",)
    assert forms.macro_build_config({"partitions": "2026-12-05"}).options.partitions == "2026-12-05"
    assert forms.step_build_config({"partitions": "2026-12-01,2026-12-02"}).options.partitions == (
        "2026-12-01,2026-12-02"
    )
    assert forms.macro_build_config({"partitions": ""}).options.partitions is None


def test_the_runs_to_keep_field_reaches_the_build_config_under_the_policy():
    assert forms.macro_build_config({}).keep_runs == 30
    assert forms.step_build_config({"keep_runs": 0}).keep_runs == 0  # 0 typed: keep all, not "blank"
    policy = {"pipeline_policy": {"keep_runs": 90}}
    assert forms.macro_build_config(policy).keep_runs == 90
    assert forms.step_build_config(dict(policy, keep_runs=5)).keep_runs == 5
    assert params_of(POLICY_SET)["keep_runs"]["defaultValue"] == 30
    for form in (MACRO, STEP):
        field = params_of(form)["keep_runs"]
        assert field["minI"] == 0 and "else 30" in field["description"], _rel(form)
        assert field["visibilityCondition"] == "model.record_folder", f"{_rel(form)}: shown only with a folder"


def test_policy_preset_provides_every_policy_field_with_the_form_types():
    _check_types(POLICY_SET, forms.POLICY_FIELDS, forms.FIELD_TYPES)
    policy = params_of(POLICY_SET)
    for form in (MACRO, STEP):
        fields = params_of(form)
        for name in forms.POLICY_FIELDS:
            assert fields[name]["type"] == policy[name]["type"], f"{_rel(form)}: {name} type differs from the policy"
            if "selectChoices" in policy[name]:
                assert _values(fields[name]) == _values(policy[name]), f"{_rel(form)}: {name} choices differ"


def test_instance_preset_provides_what_the_entry_points_read():
    _check_types(INSTANCE_SET, list(forms.INSTANCE_PRESET_TYPES), forms.INSTANCE_PRESET_TYPES)
    personal = params_of(INSTANCE_SET)["user_api_key"]
    assert personal["credentialRequestSettings"] == {"type": "SINGLE_FIELD"}, "each user enters their own key"
    shared = {p["name"]: p for p in load(INSTANCE_SET)["pluginParams"]}
    assert shared["api_key"]["type"] == "PASSWORD", "the shared key is a secret only administrators define"
    assert "api_key" not in params_of(INSTANCE_SET), "a project-level preset must not carry a shared key"


def _literal_keys(source: Path, receivers) -> set:
    """String keys read as ``x.get("k")`` or ``x["k"]`` where x is one of ``receivers``."""
    keys = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in receivers
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            keys.add(node.args[0].value)
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in receivers
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            keys.add(node.slice.value)
    return keys


def test_every_literal_form_key_in_the_code_is_a_declared_field():
    shells = ROOT / "python-lib" / "flow_orchestrator" / "shells"
    library = shells / "forms.py"
    form_keys = set(params_of(MACRO)) | set(params_of(STEP))
    for source in (
        library,
        shells / "macros.py",
        shells / "steps.py",
        ROOT / "python-runnables" / "build-pipeline" / "runnable.py",
        ROOT / "python-steps" / "run-recipes" / "step.py",
    ):
        read = _literal_keys(source, {"form", "config", "step_config"})
        assert read <= form_keys, f"{_rel(source)} reads fields no form declares: {sorted(read - form_keys)}"
    preset_keys = _literal_keys(library, {"preset"})
    declared = set(params_of(INSTANCE_SET)) | {p["name"] for p in load(INSTANCE_SET).get("pluginParams", [])}
    declared.add("__credentials")  # where DSS puts the current user's answers to CREDENTIAL_REQUEST params
    assert preset_keys and preset_keys <= declared, sorted(preset_keys - declared)


# ------------------------------------------------------------------------------------------- dynamic choices


def test_every_python_choice_field_is_answered_by_its_resource_script():
    for path in component_descriptors():
        descriptor = load(path)
        dynamic = [p["name"] for p in descriptor.get("params", []) if p.get("getChoicesFromPython")]
        if not dynamic:
            continue
        script = ROOT / "resource" / descriptor.get("paramsPythonSetup", "")
        assert descriptor.get("paramsPythonSetup") and script.is_file(), f"{_rel(path)}: no paramsPythonSetup script"
        namespace: dict = {}
        exec(compile(script.read_text(encoding="utf-8"), str(script), "exec"), namespace)  # as DSS does
        assert callable(namespace.get("do")), f"{script.name} defines no do()"
        for name in dynamic:
            assert name in choices.CHOICE_PROVIDERS, f"{_rel(path)}: {name!r} has no choice provider"


def test_choice_fields_are_select_types_and_static_selects_have_choices():
    for path in component_descriptors():
        for param in params_of(path).values():
            if param.get("getChoicesFromPython"):
                assert param["type"] in ("SELECT", "MULTISELECT"), f"{_rel(path)}: {param['name']}"
            elif param["type"] in ("SELECT", "MULTISELECT"):
                assert param.get("selectChoices"), f"{_rel(path)}: {param['name']} has no selectChoices"


# ------------------------------------------------------------------------------------------- visibility, defaults

_MODEL_FIELD = re.compile(r"model\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


@pytest.mark.parametrize("path", component_descriptors(), ids=_rel)
def test_visibility_conditions_name_existing_fields(path):
    params = params_of(path)
    for param in load(path).get("params", []):
        condition = param.get("visibilityCondition")
        if condition is None:
            continue
        names = [a or b for a, b in _MODEL_FIELD.findall(condition)]
        assert names, f"{_rel(path)}: {param.get('name')}: condition {condition!r} reads no field"
        for name in names:
            assert name in params, f"{_rel(path)}: {param.get('name')}: condition names unknown field {name!r}"
            assert name != param.get("name"), f"{_rel(path)}: {name} hides itself"


def _values(param) -> list:
    return [c["value"] for c in param.get("selectChoices", [])]


def _default_fits(param) -> bool:
    value, kind = param["defaultValue"], param["type"]
    if kind == "INT":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok and param.get("minI", value) <= value <= param.get("maxI", value)
    if kind == "DOUBLE":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and param.get("minD", value) <= value <= param.get("maxD", value)
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind in ("STRING", "TEXTAREA", "PASSWORD"):
        return isinstance(value, str)
    if kind in ("STRINGS", "DATASETS"):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "SELECT":
        return param.get("getChoicesFromPython") or value in _values(param)
    if kind == "MULTISELECT":
        return isinstance(value, list) and (param.get("getChoicesFromPython") or set(value) <= set(_values(param)))
    return True


@pytest.mark.parametrize("path", component_descriptors(), ids=_rel)
def test_defaults_match_types(path):
    for param in params_of(path).values():
        if "defaultValue" in param:
            assert _default_fits(param), f"{_rel(path)}: {param['name']} default {param['defaultValue']!r}"
        assert "default" not in param, f"{_rel(path)}: {param['name']} uses 'default' (DSS reads 'defaultValue')"


@pytest.mark.parametrize("path", [MACRO, STEP, INSTANCE_SET, POLICY_SET], ids=_rel)
def test_every_field_has_a_label_a_description_and_a_known_default(path):
    params = params_of(path)
    for name, param in params.items():
        assert param.get("label") and param.get("description"), f"{_rel(path)}: {name} needs a label and description"
        if param["type"] in ("BOOLEAN", "SELECT") and path in (MACRO, STEP) and name not in forms.POLICY_FIELDS:
            assert "defaultValue" in param, f"{_rel(path)}: {name} needs a default"
        if path in (MACRO, STEP) and name in forms.POLICY_FIELDS:
            # blank means "the policy's value": the description must say what that falls back to
            assert "defaultValue" not in param and "Empty:" in param["description"], f"{_rel(path)}: {name}"


# ------------------------------------------------------------------------------------------- component specifics


def test_macro_descriptor_contract():
    macro = load(MACRO)
    assert macro["impersonate"] is True
    assert macro["resultType"] == "HTML"
    assert set(macro["permissions"]) <= {"ADMIN", "READ_CONF", "WRITE_CONF"} and "WRITE_CONF" in macro["permissions"]
    roles = {r["type"]: r for r in macro["macroRoles"]}
    assert set(roles) == {"PROJECT_MACROS", "DATASETS"}
    assert params_of(MACRO)[roles["DATASETS"]["targetParamsKey"]]["type"] == "DATASETS"


def test_macros_that_write_to_a_managed_folder_declare_the_write_permission():
    """Writing and deleting files of a managed folder needs the project permission 'Write project content', which a
    macro declares as WRITE_CONF; READ_CONF would show the macro to users whose run history writes are refused."""
    for path in sorted(ROOT.glob("python-runnables/*/runnable.json")):
        writes_a_folder = any(p["type"] == "MANAGED_FOLDER" for p in params_of(path).values())
        if writes_a_folder:
            assert {"WRITE_CONF", "ADMIN"} & set(load(path)["permissions"]), _rel(path)


@pytest.mark.parametrize("path", [MACRO, STEP], ids=_rel)
def test_build_modes_are_the_api_job_types_in_user_words(path):
    field = params_of(path)["build_mode"]
    assert _values(field) == list(BUILD_MODES)
    for choice in field["selectChoices"]:
        assert choice["label"].startswith(BUILD_MODE_LABELS[choice["value"]]), choice


@pytest.mark.parametrize("path", component_descriptors(), ids=_rel)
def test_presets_reference_existing_parameter_sets(path):
    for param in params_of(path).values():
        if param["type"] in ("PRESET", "PRESETS"):
            target = ROOT / "parameter-sets" / param["parameterSetId"] / "parameter-set.json"
            assert target.is_file(), f"{_rel(path)}: {param['name']} names a missing parameter set"
