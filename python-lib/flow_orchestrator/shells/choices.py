"""Dynamic choices of the plugin's forms: recipes in Flow order, folders, datasets, zones; never raises."""

from __future__ import annotations

from typing import Dict, List, Optional

from ..dss import DSSGateway
from ..redaction import redact
from ..text import one_line
from .forms import open_gateway


def recipe_choices(gateway: DSSGateway) -> List[dict]:
    """Recipes in Flow order, labelled ``name (type → outputs)``."""
    from ..pipeline import read_flow

    graph = read_flow(gateway)
    choices = []
    for name in graph.recipes:
        outputs = list(graph.output_keys(name))
        shown = ", ".join(outputs[:3]) + (f" +{len(outputs) - 3} more" if len(outputs) > 3 else "")
        kind = graph.recipe_type(name) or "recipe"
        choices.append({"value": name, "label": f"{name} ({kind} → {shown or 'no output'})"})
    return choices


def folder_choices(gateway: DSSGateway) -> List[dict]:
    """The project's managed folders (value: the folder id), after a first "none" choice."""
    items = sorted(gateway.list_managed_folders(), key=lambda f: str(f.get("name") or f.get("id") or "").lower())
    choices = [{"value": "", "label": "(none: keep the record in a project variable only)"}]
    for item in items:
        if item.get("id"):
            choices.append({"value": item["id"], "label": f"{item.get('name') or item['id']} ({item['id']})"})
    return choices


def dataset_choices(gateway: DSSGateway) -> List[dict]:
    """The project's datasets by name, labelled ``name (type)``."""
    items = sorted(gateway.list_datasets(), key=lambda d: str(d.get("name", "")).lower())
    return [
        {"value": d["name"], "label": f"{d['name']} ({d.get('type') or 'dataset'})"} for d in items if d.get("name")
    ]


def zone_choices(gateway: DSSGateway) -> List[dict]:
    """The project's Flow zones (the default zone first), labelled ``name (N recipes)``; the value is the zone id."""
    from ..pipeline import read_flow

    graph = read_flow(gateway)
    counts: Dict[str, int] = {}
    for recipe in graph.recipes:
        zone_id = graph.zones.zone_of(recipe).id
        counts[zone_id] = counts.get(zone_id, 0) + 1
    return [
        {
            "value": zone.id,
            "label": f"{zone.name} ({counts.get(zone.id, 0)} recipe{'' if counts.get(zone.id) == 1 else 's'})",
        }
        for zone in graph.zones.zones
    ]


#: Which list each choice-backed form field shows.
CHOICE_PROVIDERS = {
    "recipes": ("recipes", recipe_choices),
    "zones": ("Flow zones", zone_choices),
    "datasets": ("datasets", dataset_choices),
    "remote_targets": ("datasets", dataset_choices),
    "remote_source_dataset": ("datasets", dataset_choices),
    "remote_datasets": ("datasets", dataset_choices),
    "record_folder": ("managed folders", folder_choices),
}


def form_choices(parameter_name: str, config: Optional[dict], *, client, project_key: str) -> dict:
    """The ``{"choices": [...]}`` answer for a form field; never raises (a readable placeholder instead)."""
    what, provider = CHOICE_PROVIDERS.get(parameter_name, (parameter_name, None))
    try:
        if provider is None:
            raise ValueError(f"no list is defined for the field {parameter_name!r}")
        gateway = open_gateway(config or {}, client=client, project_key=project_key)
        return {"choices": provider(gateway)}
    except Exception as exc:  # noqa: BLE001 - the form must keep working whatever happened
        return {"choices": [unavailable_choice(what, exc)]}


def unavailable_choice(what: str, exc: BaseException) -> dict:
    """The one choice shown when a list cannot be read: empty value, the reason as label."""
    reason = one_line(redact(str(exc)) or "", 160) or exc.__class__.__name__
    return {"value": "", "label": f"(could not list {what}: {reason})"}


__all__ = [
    "CHOICE_PROVIDERS",
    "dataset_choices",
    "folder_choices",
    "form_choices",
    "recipe_choices",
    "unavailable_choice",
    "zone_choices",
]
