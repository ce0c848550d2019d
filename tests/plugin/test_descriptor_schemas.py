"""Every plugin descriptor in the tree matches its JSON Schema (issue 7 item 2, schema part).

The schemas in ``tests/plugin/schemas/`` are written from plugin-conventions.md; descriptors are found by glob, so a
new macro, step or preset is checked without editing this file. The known-bad samples prove that each rule of the
schemas can reject something (a schema that accepts everything would otherwise pass silently).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Callable, List, Tuple

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"

#: descriptor glob -> schema file
DESCRIPTOR_KINDS = {
    "plugin.json": "plugin.schema.json",
    "code-env/python/desc.json": "desc.schema.json",
    "python-runnables/*/runnable.json": "runnable.schema.json",
    "python-steps/*/step.json": "step.schema.json",
    "parameter-sets/*/parameter-set.json": "parameter-set.schema.json",
}
#: component folder -> the files each of its sub-folders must hold
COMPONENT_FOLDERS = {
    "python-runnables": ("runnable.json", "runnable.py"),
    "python-steps": ("step.json", "step.py"),
    "parameter-sets": ("parameter-set.json",),
}


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _registry() -> Registry:
    resources = [Resource.from_contents(_load(path)) for path in sorted(SCHEMAS.glob("*.schema.json"))]
    return Registry().with_resources((resource.id(), resource) for resource in resources)


REGISTRY = _registry()


def validator(schema_file: str) -> Draft202012Validator:
    return Draft202012Validator(_load(SCHEMAS / schema_file), registry=REGISTRY)


def problems(schema_file: str, instance: dict) -> List[str]:
    """Every violation as 'json/path: message', deepest first, for readable failures."""
    errors = sorted(validator(schema_file).iter_errors(instance), key=lambda e: -len(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def descriptors() -> List[Tuple[Path, str]]:
    return sorted((path, schema) for pattern, schema in DESCRIPTOR_KINDS.items() for path in ROOT.glob(pattern))


def _rel(value) -> str:
    return value.relative_to(ROOT).as_posix() if isinstance(value, Path) else str(value)


@pytest.mark.parametrize("schema_path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_schema_is_a_valid_draft_2020_12_schema(schema_path):
    Draft202012Validator.check_schema(_load(schema_path))


@pytest.mark.parametrize(("path", "schema_file"), descriptors(), ids=_rel)
def test_descriptor_matches_its_schema(path, schema_file):
    found = problems(schema_file, _load(path))
    assert not found, f"{_rel(path)} does not match {schema_file}:\n  " + "\n  ".join(found)


def test_the_tree_has_each_kind_of_descriptor():
    kinds = {schema for _, schema in descriptors()}
    assert kinds == set(DESCRIPTOR_KINDS.values())


@pytest.mark.parametrize("folder", sorted(COMPONENT_FOLDERS))
def test_every_component_folder_has_its_descriptor(folder):
    """A misnamed descriptor (``runnables.json``) would escape the glob above: catch it here."""
    required = COMPONENT_FOLDERS[folder]
    components = [p for p in (ROOT / folder).iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert components, f"{folder}/ holds no component"
    for component in components:
        missing = [name for name in required if not (component / name).is_file()]
        assert not missing, f"{_rel(component)} lacks {', '.join(missing)}"
        assert re.match(r"^[a-z0-9]+(-[a-z0-9]+)*$", component.name), (
            f"{_rel(component)}: component ids are lower-case words joined by '-'"
        )


def test_code_env_accepts_only_interpreters_the_library_supports():
    """The library needs Python >= requires-python; DSS must not build the code env on an older one."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    minimum = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)"', pyproject)
    assert minimum, 'pyproject.toml must declare requires-python = ">=X.Y"'
    floor = (int(minimum.group(1)), int(minimum.group(2)))
    for interpreter in _load(ROOT / "code-env" / "python" / "desc.json")["acceptedPythonInterpreters"]:
        digits = interpreter[len("PYTHON") :]
        version = (int(digits[0]), int(digits[1:]))
        assert version >= floor, f"{interpreter} is older than requires-python >={floor[0]}.{floor[1]}"


# ------------------------------------------------------------------------------------------- known-bad samples

VALID_RUNNABLE = {
    "meta": {"label": "Sample", "description": "A sample macro", "icon": "icon-play", "category": "Samples"},
    "impersonate": True,
    "permissions": ["WRITE_CONF"],
    "resultType": "HTML",
    "macroRoles": [{"type": "PROJECT_MACROS"}, {"type": "DATASETS", "targetParamsKey": "targets"}],
    "paramsPythonSetup": "choices.py",
    "params": [
        {"type": "SEPARATOR", "label": "Section"},
        {"name": "targets", "label": "Targets", "type": "DATASETS"},
        {"name": "recipes", "label": "Recipes", "type": "MULTISELECT", "getChoicesFromPython": True},
        {
            "name": "mode",
            "label": "Mode",
            "type": "SELECT",
            "defaultValue": "a",
            "selectChoices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}],
        },
        {"name": "max_parallel", "label": "Max", "type": "INT", "defaultValue": 4, "minI": 1, "maxI": 64},
        {"name": "wait_s", "label": "Wait", "type": "DOUBLE", "defaultValue": 5.0, "minD": 0},
        {
            "name": "dry_run",
            "label": "Dry run",
            "type": "BOOLEAN",
            "defaultValue": False,
            "visibilityCondition": "model.mode == 'a'",
        },
        {"name": "patterns", "label": "Patterns", "type": "STRINGS", "defaultValue": []},
        {"name": "policy", "label": "Policy", "type": "PRESET", "parameterSetId": "pipeline-policy"},
    ],
}
VALID_STEP = {
    "meta": {"label": "Step", "description": "A sample step", "icon": "icon-play"},
    "params": [{"name": "recipes", "label": "Recipes", "type": "STRINGS"}],
}
VALID_PARAMETER_SET = {
    "meta": {"label": "Instance", "description": "Another instance", "icon": "icon-cloud"},
    "defaultDefinableInline": False,
    "defaultDefinableAtProjectLevel": True,
    "pluginParams": [],
    "params": [
        {"name": "url", "label": "URL", "type": "STRING", "mandatory": True},
        {"name": "api_key", "label": "API key", "type": "PASSWORD"},
        {
            "name": "token",
            "label": "Token",
            "type": "CREDENTIAL_REQUEST",
            "credentialRequestSettings": {"type": "SINGLE_FIELD"},
        },
    ],
}
VALID_PLUGIN = {
    "id": "sample-plugin",
    "version": "1.2.3",
    "meta": {
        "label": "Sample",
        "description": "A sample",
        "author": "Someone",
        "icon": "icon-check",
        "licenseInfo": "Apache Software License",
        "supportLevel": "NOT_SUPPORTED",
    },
}
VALID_DESC = {
    "acceptedPythonInterpreters": ["PYTHON39", "PYTHON311"],
    "forceConda": False,
    "installCorePackages": True,
    "corePackagesSet": "AUTO",
    "installJupyterSupport": False,
}

VALID = {
    "runnable.schema.json": VALID_RUNNABLE,
    "step.schema.json": VALID_STEP,
    "parameter-set.schema.json": VALID_PARAMETER_SET,
    "plugin.schema.json": VALID_PLUGIN,
    "desc.schema.json": VALID_DESC,
}


def _param(name: str) -> Callable[[dict], dict]:
    """The parameter called ``name`` of a sample, to mutate."""
    return lambda d: next(p for p in d["params"] if p.get("name") == name)


def _set(getter, key, value):
    def mutate(d):
        getter(d)[key] = value

    return mutate


def _delete(getter, key):
    def mutate(d):
        del getter(d)[key]

    return mutate


def _append_param(param: dict):
    def mutate(d):
        d["params"].append(param)

    return mutate


ROOT_OF = lambda d: d  # noqa: E731 - a getter like the others
META = lambda d: d["meta"]  # noqa: E731

BAD_SAMPLES = [
    ("runnable.schema.json", "no resultType", _delete(ROOT_OF, "resultType")),
    ("runnable.schema.json", "unknown resultType", _set(ROOT_OF, "resultType", "PDF")),
    ("runnable.schema.json", "unknown permission", _set(ROOT_OF, "permissions", ["EXECUTE"])),
    ("runnable.schema.json", "impersonate as text", _set(ROOT_OF, "impersonate", "true")),
    ("runnable.schema.json", "FILE result without MIME type", _set(ROOT_OF, "resultType", "FILE")),
    ("runnable.schema.json", "unknown macro role", _set(ROOT_OF, "macroRoles", [{"type": "RECIPE"}])),
    ("runnable.schema.json", "object role without target", _set(ROOT_OF, "macroRoles", [{"type": "DATASETS"}])),
    ("runnable.schema.json", "unknown top-level key", _set(ROOT_OF, "result_type", "HTML")),
    ("runnable.schema.json", "meta without label", _delete(META, "label")),
    ("runnable.schema.json", "dynamic choices without script", _delete(ROOT_OF, "paramsPythonSetup")),
    ("runnable.schema.json", "unknown param type", _set(_param("max_parallel"), "type", "INTEGER")),
    ("runnable.schema.json", "'default' instead of 'defaultValue'", _set(_param("dry_run"), "default", True)),
    ("runnable.schema.json", "INT default as text", _set(_param("max_parallel"), "defaultValue", "4")),
    ("runnable.schema.json", "INT default with a fraction", _set(_param("max_parallel"), "defaultValue", 4.5)),
    ("runnable.schema.json", "BOOLEAN default as text", _set(_param("dry_run"), "defaultValue", "false")),
    ("runnable.schema.json", "STRINGS default as text", _set(_param("patterns"), "defaultValue", "a,b")),
    ("runnable.schema.json", "integer bounds on a DOUBLE", _set(_param("wait_s"), "minI", 0)),
    ("runnable.schema.json", "SELECT without choices", _delete(_param("mode"), "selectChoices")),
    ("runnable.schema.json", "choice without label", _set(_param("mode"), "selectChoices", [{"value": "a"}])),
    (
        "runnable.schema.json",
        "choices on a STRING",
        _set(_param("patterns"), "selectChoices", [{"value": "a", "label": "A"}]),
    ),
    ("runnable.schema.json", "PRESET without parameter set", _delete(_param("policy"), "parameterSetId")),
    ("runnable.schema.json", "reserved param name", _set(_param("dry_run"), "name", "__dry_run")),
    ("runnable.schema.json", "param name not an identifier", _set(_param("max_parallel"), "name", "max-parallel")),
    ("runnable.schema.json", "param without name", _delete(_param("targets"), "name")),
    ("runnable.schema.json", "param without label", _delete(_param("targets"), "label")),
    (
        "runnable.schema.json",
        "credential request outside a preset",
        _append_param(
            {
                "name": "tok",
                "label": "Tok",
                "type": "CREDENTIAL_REQUEST",
                "credentialRequestSettings": {"type": "BASIC"},
            }
        ),
    ),
    ("step.schema.json", "macro key in a step", _set(ROOT_OF, "resultType", "HTML")),
    ("step.schema.json", "step without params", _delete(ROOT_OF, "params")),
    (
        "step.schema.json",
        "dynamic choices without script",
        _append_param({"name": "r", "label": "R", "type": "SELECT", "getChoicesFromPython": True}),
    ),
    (
        "parameter-set.schema.json",
        "preset inside a preset",
        _append_param({"name": "p", "label": "P", "type": "PRESET", "parameterSetId": "other"}),
    ),
    ("parameter-set.schema.json", "legacy definableInline", _set(ROOT_OF, "definableInline", True)),
    ("parameter-set.schema.json", "no defaultDefinableInline", _delete(ROOT_OF, "defaultDefinableInline")),
    (
        "parameter-set.schema.json",
        "credential request without settings",
        _delete(lambda d: d["params"][2], "credentialRequestSettings"),
    ),
    ("plugin.schema.json", "version not semantic", _set(ROOT_OF, "version", "1.0")),
    ("plugin.schema.json", "id with a space", _set(ROOT_OF, "id", "sample plugin")),
    ("plugin.schema.json", "meta without description", _delete(META, "description")),
    ("plugin.schema.json", "unknown support level", _set(META, "supportLevel", "BEST_EFFORT")),
    ("plugin.schema.json", "unknown top-level key", _set(ROOT_OF, "requirements", [])),
    ("desc.schema.json", "interpreter not a DSS name", _set(ROOT_OF, "acceptedPythonInterpreters", ["python3.11"])),
    ("desc.schema.json", "no interpreter", _set(ROOT_OF, "acceptedPythonInterpreters", [])),
    ("desc.schema.json", "unknown key", _set(ROOT_OF, "pythonVersion", "3.11")),
]


@pytest.mark.parametrize("schema_file", sorted(VALID))
def test_valid_samples_pass(schema_file):
    assert problems(schema_file, VALID[schema_file]) == []


@pytest.mark.parametrize(("schema_file", "what", "mutate"), BAD_SAMPLES, ids=[f"{s}: {w}" for s, w, _ in BAD_SAMPLES])
def test_schema_rejects_a_known_bad_sample(schema_file, what, mutate):
    sample = copy.deepcopy(VALID[schema_file])
    mutate(sample)
    assert problems(schema_file, sample), f"{schema_file} accepted a descriptor with {what}"
