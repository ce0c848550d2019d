"""Flow zones as plain values: which zone each recipe is in, and finding a zone from what a user typed.

Built from the raw zone objects DSS answers (``{id, name, color, items: [{objectType, objectId, projectKey?}],
shared}``), read by :mod:`flow_orchestrator.dss`. A recipe listed in no zone's ``items`` is in the default zone:
dataikuapi 12 to 14 document that the default zone's items cannot be listed, so membership never relies on them
(docs/real-dss.md, "Flow zones").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

DEFAULT_ZONE_ID = "default"
DEFAULT_ZONE_NAME = "Default"


@dataclass(frozen=True)
class FlowZone:
    """One zone: DSS's id (``default`` for the default zone), display name and colour (``#RRGGBB``)."""

    id: str
    name: str
    color: str = ""

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "color": self.color}


DEFAULT_ZONE = FlowZone(DEFAULT_ZONE_ID, DEFAULT_ZONE_NAME)


@dataclass(frozen=True)
class FlowZones:
    """The zones of a project (default first) and the zone id of every recipe placed outside the default zone."""

    zones: Tuple[FlowZone, ...] = (DEFAULT_ZONE,)
    recipe_zone: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, raw_zones: Optional[Iterable[Mapping]], project_key: Optional[str] = None) -> FlowZones:
        """Zones from ``GET /projects/{key}/flow/zones`` (None or []: no zone information, all recipes default).

        Items of another project (a ``projectKey`` other than ``project_key``) are ignored; so are the default
        zone's own items, which some DSS releases leave out.
        """
        zones: List[FlowZone] = []
        placed: Dict[str, str] = {}
        for raw in raw_zones or ():
            if not isinstance(raw, Mapping) or not raw.get("id"):
                continue
            zone = FlowZone(str(raw["id"]), str(raw.get("name") or raw["id"]), str(raw.get("color") or ""))
            zones.append(zone)
            if zone.id == DEFAULT_ZONE_ID:
                continue
            for item in raw.get("items") or ():
                if not isinstance(item, Mapping) or item.get("objectType") != "RECIPE":
                    continue
                if item.get("projectKey") not in (None, "", project_key):
                    continue
                placed.setdefault(str(item.get("objectId")), zone.id)
        if not any(z.id == DEFAULT_ZONE_ID for z in zones):
            zones.insert(0, DEFAULT_ZONE)
        else:
            zones.sort(key=lambda z: z.id != DEFAULT_ZONE_ID)  # stable: default first, then DSS's order
        return cls(tuple(zones), placed)

    def zone(self, zone_id: str) -> FlowZone:
        return next((z for z in self.zones if z.id == zone_id), DEFAULT_ZONE)

    def zone_of(self, recipe: str) -> FlowZone:
        return self.zone(self.recipe_zone.get(recipe, DEFAULT_ZONE_ID))

    def recipes_in(self, zone_ids: Iterable[str], recipes: Sequence[str]) -> List[str]:
        """The ``recipes`` (in their order) whose zone is one of ``zone_ids``."""
        wanted = set(zone_ids)
        return [r for r in recipes if self.recipe_zone.get(r, DEFAULT_ZONE_ID) in wanted]

    @property
    def in_use(self) -> bool:
        """Whether any recipe is outside the default zone (else grouping by zone says nothing)."""
        return bool(self.recipe_zone)

    def find(self, text: str) -> List[FlowZone]:
        """Zones ``text`` names: by id, else by name (exact, then ignoring case, then ignoring case, spaces, ``_``
        and ``-``, so ``zone:machine_learning`` finds "Machine learning"). Several zones may share a name."""
        for matches in (
            [z for z in self.zones if z.id == text],
            [z for z in self.zones if z.name == text],
            [z for z in self.zones if z.name.lower() == text.lower()],
            [z for z in self.zones if _loose(z.name) == _loose(text) and _loose(text)],
        ):
            if matches:
                return matches
        return []

    def group(self, recipes: Sequence[str]) -> List[Tuple[FlowZone, List[str]]]:
        """``recipes`` grouped by zone, zones in project order, recipes in their given order; empty zones left out."""
        by_zone: Dict[str, List[str]] = {}
        for recipe in recipes:
            by_zone.setdefault(self.recipe_zone.get(recipe, DEFAULT_ZONE_ID), []).append(recipe)
        return [(z, by_zone[z.id]) for z in self.zones if z.id in by_zone]


NO_ZONES = FlowZones()


def _loose(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.lower())
