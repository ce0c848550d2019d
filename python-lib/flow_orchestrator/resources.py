"""Where the plugin's JSON Schemas are, whichever way the library was installed.

One source of truth, ``resource/schemas/`` of the plugin: DSS finds it beside ``python-lib``, and an installed wheel
(``pip install .``) carries a copy as the package data ``flow_orchestrator/schemas/`` (see ``pyproject.toml``).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import List

from .errors import FlowOrchestratorError

#: The file that tells a folder of schemas apart: every install has it.
MARKER = "build-config.schema.json"


def schema_dir_candidates() -> List[Path]:
    """Folders to look in, in order: ``$FLOW_ORCHESTRATOR_SCHEMAS``, ``$DKU_CUSTOM_RESOURCE_FOLDER/schemas`` (set by DSS
    in steps), the package data of an installed wheel, and ``resource/schemas`` beside ``python-lib`` (the plugin)."""
    here = Path(__file__).resolve().parent
    candidates = []
    if os.environ.get("FLOW_ORCHESTRATOR_SCHEMAS"):
        candidates.append(Path(os.environ["FLOW_ORCHESTRATOR_SCHEMAS"]))
    if os.environ.get("DKU_CUSTOM_RESOURCE_FOLDER"):
        candidates.append(Path(os.environ["DKU_CUSTOM_RESOURCE_FOLDER"]) / "schemas")
    candidates.append(here / "schemas")
    candidates.append(here.parent.parent / "resource" / "schemas")
    return candidates


def schemas_dir() -> Path:
    """The first candidate folder holding the schemas; a clear error naming every place looked at otherwise."""
    candidates = schema_dir_candidates()
    for path in candidates:
        if (path / MARKER).is_file():
            return path
    raise FlowOrchestratorError(
        "The plugin's JSON Schemas are missing: looked for {} in {}. The installation is incomplete: reinstall the "
        "plugin (resource/schemas must sit beside python-lib) or the package (pip install flow-orchestrator ships "
        "them as package data), or set FLOW_ORCHESTRATOR_SCHEMAS to the folder.".format(
            MARKER, ", ".join(str(p) for p in candidates)
        )
    )


def schema_path(name: str) -> Path:
    """The path of one schema file (``"run-record.schema.json"``); a clear error when the install lacks it."""
    path = schemas_dir() / name
    if not path.is_file():
        raise FlowOrchestratorError(f"JSON Schema {name} is missing from {path.parent}: reinstall the plugin.")
    return path


@functools.cache
def load_schema(name: str) -> dict:
    """A JSON Schema of ``resource/schemas`` by file name (``"build-config.schema.json"``), read once (shared: not to
    be changed)."""
    with open(schema_path(name), encoding="utf-8") as handle:
        return json.load(handle)


@functools.cache
def schema_validator(name: str):
    """A validator of the whole schema ``name`` for its own draft, built once; ``jsonschema`` is imported on the first
    call only (commands that validate nothing never pay for it)."""
    import jsonschema

    schema = load_schema(name)
    return jsonschema.validators.validator_for(schema)(schema)
