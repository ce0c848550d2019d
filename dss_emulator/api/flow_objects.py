"""What the dataset and recipe handlers share: settings compared without their version tags, metadata GET/PUT."""

from __future__ import annotations

import copy
import json

from ..server import Response, json_response

#: Keys DSS rewrites on every save: a save that changes nothing else is not a change.
VOLATILE_KEYS = ("versionTag", "creationTag")


def comparable(definition: dict) -> str:
    """The settings as text without their volatile keys, to tell a real change from a save of the same settings."""
    return json.dumps({k: v for k, v in definition.items() if k not in VOLATILE_KEYS}, sort_keys=True)


def metadata_response(flow_object) -> Response:
    """``GET .../metadata`` of a dataset or a recipe (call with the state lock held)."""
    return json_response(copy.deepcopy(flow_object.metadata))


def save_metadata(flow_object, body: dict) -> Response:
    """``PUT .../metadata`` of a dataset or a recipe: its tags are its settings' tags too (call with the lock held)."""
    flow_object.metadata = copy.deepcopy(body)
    if isinstance(body.get("tags"), list):
        flow_object.definition["tags"] = list(body["tags"])
    return json_response({"msg": "Metadata saved"})
