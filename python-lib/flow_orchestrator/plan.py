"""BuildPlan: what a run will do, before it does it (what a dry run shows and the runner executes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .port import OutputRef

BUILD_MODES = (
    "NON_RECURSIVE_FORCED_BUILD",
    "RECURSIVE_BUILD",
    "RECURSIVE_FORCED_BUILD",
    "RECURSIVE_MISSING_ONLY_BUILD",
)
STRATEGIES = ("per-recipe", "single-job")


@dataclass(frozen=True)
class PlannedRecipe:
    """One recipe of the plan and where it sits in the schedule."""

    name: str
    type: str
    outputs: Tuple[OutputRef, ...]  # every output the recipe builds (all of them, not just the first)
    inputs: Tuple[str, ...] = ()  # ids of its input computables
    upstream: Tuple[str, ...] = ()  # recipes of the plan it waits for (direct dependencies only)
    layer: int = 0  # 0 for recipes with no upstream in the plan, else 1 + max(layer of upstream)
    expected_duration_s: float = 1.0  # from the last run record when known, else 1
    bottom_level_s: float = 1.0  # longest path of expected durations from this recipe to a sink of the plan

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "outputs": [o.to_dict() for o in self.outputs],
            "inputs": list(self.inputs),
            "upstream": list(self.upstream),
            "layer": self.layer,
            "expected_duration_s": self.expected_duration_s,
            "bottom_level_s": self.bottom_level_s,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "PlannedRecipe":
        return cls(
            name=data["name"],
            type=data.get("type", ""),
            outputs=tuple(OutputRef.from_dict(o) for o in data.get("outputs", [])),
            inputs=tuple(data.get("inputs", [])),
            upstream=tuple(data.get("upstream", [])),
            layer=int(data.get("layer", 0)),
            expected_duration_s=float(data.get("expected_duration_s", 1.0)),
            bottom_level_s=float(data.get("bottom_level_s", 1.0)),
        )


@dataclass(frozen=True)
class BuildPlan:
    """Recipes to run in one topological order, with their dependencies, layers and critical path."""

    project_key: str
    recipes: Tuple[PlannedRecipe, ...]  # a topological order of the plan
    build_mode: str = "NON_RECURSIVE_FORCED_BUILD"
    strategy: str = "per-recipe"
    targets: Tuple[OutputRef, ...] = ()  # what a single-job run asks DSS to build (the plan's sinks)
    critical_path: Tuple[str, ...] = ()  # recipe names along the longest expected-duration path
    critical_path_s: float = 0.0
    notes: Tuple[str, ...] = ()  # human-readable remarks (reordered list, excluded recipes...)
    _index: Dict[str, PlannedRecipe] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._index.update({r.name: r for r in self.recipes})

    @property
    def names(self) -> List[str]:
        return [r.name for r in self.recipes]

    def recipe(self, name: str) -> PlannedRecipe:
        return self._index[name]

    def get(self, name: str) -> Optional[PlannedRecipe]:
        return self._index.get(name)

    @property
    def layers(self) -> List[List[str]]:
        """Recipes grouped by layer: every recipe of layer k can run once layers < k are done."""
        out: List[List[str]] = []
        for r in self.recipes:
            while len(out) <= r.layer:
                out.append([])
            out[r.layer].append(r.name)
        return out

    @property
    def total_work_s(self) -> float:
        return sum(r.expected_duration_s for r in self.recipes)

    def to_dict(self) -> dict:
        return {
            "project_key": self.project_key,
            "build_mode": self.build_mode,
            "strategy": self.strategy,
            "recipes": [r.to_dict() for r in self.recipes],
            "layers": self.layers,
            "targets": [t.to_dict() for t in self.targets],
            "critical_path": list(self.critical_path),
            "critical_path_s": self.critical_path_s,
            "total_work_s": self.total_work_s,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "BuildPlan":
        return cls(
            project_key=data["project_key"],
            recipes=tuple(PlannedRecipe.from_dict(r) for r in data.get("recipes", [])),
            build_mode=data.get("build_mode", "NON_RECURSIVE_FORCED_BUILD"),
            strategy=data.get("strategy", "per-recipe"),
            targets=tuple(OutputRef.from_dict(t) for t in data.get("targets", [])),
            critical_path=tuple(data.get("critical_path", [])),
            critical_path_s=float(data.get("critical_path_s", 0.0)),
            notes=tuple(data.get("notes", [])),
        )


def per_recipe_job_type(build_mode: str) -> str:
    """DSS job type for one recipe's job in the per-recipe strategy.

    The plan already holds the upstream recipes a recursive mode asks for and runs them first, so a
    forced mode becomes a non-recursive forced build of that recipe alone; the "smart" modes are passed
    through so that DSS itself skips outputs that are already up to date (or already present).
    """
    if build_mode in ("NON_RECURSIVE_FORCED_BUILD", "RECURSIVE_FORCED_BUILD"):
        return "NON_RECURSIVE_FORCED_BUILD"
    return build_mode
