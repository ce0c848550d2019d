"""Flow zones of an emulated project: which zone each dataset, folder and recipe is in, and what a zone shares.

DSS keeps a recipe and its outputs in one zone: moving a recipe moves its outputs, and moving a dataset or folder
moves the recipe writing it (and that recipe's other outputs) along, as ``DSSFlowZone.add_item`` documents ("the
recipe generating obj"). Everything not explicitly in a zone is in the zone ``default``, which always exists, cannot
be deleted, and whose ``items`` list stays empty ("the default zone content is defined as all items that are not
explicitly in another zone", dataikuapi 12-15). Sources: docs/real-dss.md, "Flow zones".

Plain objects under the state lock; :mod:`dss_emulator.api.zones` serves them over HTTP.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple


class Project(Protocol):
    """What zones read of a project (:class:`dss_emulator.state.Project`): zones sit below the state."""

    datasets: Mapping[str, Any]
    folders: Mapping[str, Any]
    recipes: Mapping[str, Any]

    def producers(self) -> Mapping[str, Any]: ...


DEFAULT_ZONE_ID = "default"
DEFAULT_ZONE_NAME = "Default"
DEFAULT_ZONE_COLOR = "#2ab1ac"  # dataikuapi's create_zone default colour
ITEM_TYPES = ("DATASET", "MANAGED_FOLDER", "RECIPE")
_ID_ALPHABET = string.ascii_letters + string.digits

ItemKey = Tuple[str, str]  # (objectType, objectId)


class Zone:
    """One Flow zone: id, name, colour and the items explicitly shared into it (its own items live in the index)."""

    def __init__(self, zone_id: str, name: str, color: str = DEFAULT_ZONE_COLOR) -> None:
        self.id = zone_id
        self.name = name
        self.color = color
        self.shared: List[ItemKey] = []


def zone_id_for(project_key: str, name: str) -> str:
    """A DSS-like 7-character zone id, stable for a name (flow files), so tests and examples can rely on it."""
    digest = int(hashlib.sha1(f"{project_key}/{name}".encode()).hexdigest(), 16)
    chars = []
    for _ in range(7):
        digest, index = divmod(digest, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[index])
    return "".join(chars)


def random_zone_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(7))


class FlowZones:
    """The zones of one project and the zone of each object placed explicitly (others are in ``default``)."""

    def __init__(self) -> None:
        self.zones: OrderedDict[str, Zone] = OrderedDict()
        self.zones[DEFAULT_ZONE_ID] = Zone(DEFAULT_ZONE_ID, DEFAULT_ZONE_NAME)
        self.placed: Dict[ItemKey, str] = {}  # (type, id) -> zone id, for objects outside the default zone

    # -- reading ------------------------------------------------------------------------------------------------------
    def get(self, zone_id: str) -> Optional[Zone]:
        return self.zones.get(zone_id)

    def zone_of(self, key: ItemKey) -> str:
        return self.placed.get(key, DEFAULT_ZONE_ID)

    def items_of(self, project: Project, zone_id: str) -> List[ItemKey]:
        """Objects of the project in the zone, in Flow order (datasets, folders, recipes); the default zone lists
        everything not placed elsewhere."""
        return [key for key in existing_items(project) if self.zone_of(key) == zone_id]

    def describe(self, project: Project, zone: Zone) -> dict:
        """The zone as ``GET /flow/zones/{id}`` answers it: explicit items only (none for the default zone)."""
        own = [] if zone.id == DEFAULT_ZONE_ID else self.items_of(project, zone.id)
        present = set(existing_items(project))
        return {
            "id": zone.id,
            "name": zone.name,
            "color": zone.color,
            "items": [smart_ref_json(key) for key in own],
            "shared": [smart_ref_json(key) for key in zone.shared if key in present],
        }

    # -- changing -----------------------------------------------------------------------------------------------------
    def create(self, name: str, color: str, zone_id: Optional[str] = None) -> Zone:
        zone_id = zone_id or random_zone_id()
        while zone_id in self.zones:
            zone_id = random_zone_id()
        zone = Zone(zone_id, name, color)
        self.zones[zone_id] = zone
        return zone

    def delete(self, zone_id: str) -> None:
        """Drop a zone; its items go back to the default zone."""
        del self.zones[zone_id]
        for key in [k for k, z in self.placed.items() if z == zone_id]:
            del self.placed[key]

    def move(self, project: Project, key: ItemKey, zone_id: str) -> List[ItemKey]:
        """Put an object in a zone with the objects DSS moves along; returns every object moved."""
        moved = moving_together(project, key)
        for item in moved:
            if zone_id == DEFAULT_ZONE_ID:
                self.placed.pop(item, None)
            else:
                self.placed[item] = zone_id
        return moved

    def share(self, zone_id: str, key: ItemKey) -> None:
        zone = self.zones[zone_id]
        if key not in zone.shared:
            zone.shared.append(key)

    def unshare(self, zone_id: str, key: ItemKey) -> None:
        zone = self.zones[zone_id]
        if key in zone.shared:
            zone.shared.remove(key)


def smart_ref_json(key: ItemKey) -> dict:
    """An own-project object as dataikuapi's ``_to_smart_ref`` writes it (key order matters to
    ``get_zone_of_object``, which compares ``json.dumps`` of both)."""
    return {"objectId": key[1], "objectType": key[0]}


def existing_items(project: Project) -> List[ItemKey]:
    return (
        [("DATASET", name) for name in project.datasets]
        + [("MANAGED_FOLDER", folder_id) for folder_id in project.folders]
        + [("RECIPE", name) for name in project.recipes]
    )


def item_exists(project: Project, key: ItemKey) -> bool:
    object_type, object_id = key
    if object_type == "DATASET":
        return object_id in project.datasets
    if object_type == "MANAGED_FOLDER":
        return object_id in project.folders
    if object_type == "RECIPE":
        return object_id in project.recipes
    return False


def computable_key(project: Project, ref: str) -> Optional[ItemKey]:
    """The zone item of a recipe input or output reference of this project (None: foreign or unknown)."""
    if ref in project.datasets:
        return ("DATASET", ref)
    if ref in project.folders:
        return ("MANAGED_FOLDER", ref)
    folder = next((f for f in project.folders.values() if f.name == ref), None)
    return ("MANAGED_FOLDER", folder.id) if folder is not None else None


def moving_together(project: Project, key: ItemKey) -> List[ItemKey]:
    """The object and those DSS keeps in its zone: a recipe with its outputs, an output with its recipe's group."""
    recipe_name: Optional[str] = key[1] if key[0] == "RECIPE" else None
    if recipe_name is None:
        producer = project.producers().get(key[1])
        recipe_name = producer.name if producer is not None else None
    if recipe_name is None or recipe_name not in project.recipes:
        return [key]
    group: List[ItemKey] = [("RECIPE", recipe_name)]
    for ref in project.recipes[recipe_name].output_refs():
        output = computable_key(project, ref)
        if output is not None and output not in group:
            group.append(output)
    if key not in group:
        group.append(key)
    return group


def parse_item(project_key: str, body: object) -> ItemKey:
    """A smart ref ``{objectType, objectId, projectKey?}`` of this project, or ValueError saying what is wrong."""
    if not isinstance(body, dict) or not body.get("objectId") or not body.get("objectType"):
        raise ValueError(f"Expected an object reference {{objectType, objectId}}, got {body!r}")
    owner = body.get("projectKey")
    if owner not in (None, "", project_key):
        raise ValueError(
            f"{owner}.{body['objectId']} belongs to project {owner}: a zone of {project_key} holds its own objects"
        )
    if body["objectType"] not in ITEM_TYPES:
        raise ValueError(
            f"Object type {body['objectType']!r} cannot be placed in a zone here: use one of {', '.join(ITEM_TYPES)}"
        )
    return (str(body["objectType"]), str(body["objectId"]))


def renamed(zones: FlowZones, object_type: str, old: str, new: str) -> None:
    """A renamed object keeps its zone and the zones it is shared into."""
    old_key, new_key = (object_type, old), (object_type, new)
    if old_key in zones.placed:
        zones.placed[new_key] = zones.placed.pop(old_key)
    for zone in zones.zones.values():
        zone.shared = [new_key if key == old_key else key for key in zone.shared]


def forget(zones: FlowZones, object_type: str, object_id: str) -> None:
    """A deleted object leaves its zone and every share (one created later under its name starts in default)."""
    key = (object_type, object_id)
    zones.placed.pop(key, None)
    for zone in zones.zones.values():
        if key in zone.shared:
            zone.shared.remove(key)
