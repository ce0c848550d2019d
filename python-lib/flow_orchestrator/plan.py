"""BuildPlan: what a run will do, before it does it (what a dry run shows and the runner executes)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import chain, filterfalse, repeat
from operator import attrgetter
from typing import Collection, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from .config.model import BUILD_MODE_LABELS, BuildConfig
from .graph import FlowGraph, bottom_levels_of, critical_path_of, gc_paused, layers_of
from .grouping import GROUPED, job_groups, one_partitioning, shared_groups
from .job_costs import WHOLE_PLAN, GroupingChoice, JobOverhead, choose_grouping, own_duration_s
from .port import OutputRef, value_eq, value_ne
from .selection import order_by_preference, resolve_selection
from .text import format_duration

#: What planning assumes of a recipe whose duration is unknown (priorities, critical path); the runner polls such
#: a recipe geometrically instead.
DEFAULT_EXPECTED_DURATION_S = 1.0


def _seconds_or_none(value) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


class PlannedRecipe(NamedTuple):
    """One recipe of the plan and where it sits in the schedule.

    Immutable and hashable; a NamedTuple for the same reason as :class:`OutputRef` (one per recipe, ~10^4 in a large
    plan), with a dataclass's equality.
    """

    name: str
    type: str
    outputs: Tuple[OutputRef, ...]  # every output the recipe builds (all of them, not just the first)
    inputs: Tuple[str, ...] = ()  # ids of its input computables
    upstream: Tuple[str, ...] = ()  # recipes of the plan it waits for (direct dependencies only)
    layer: int = 0  # 0 for recipes with no upstream in the plan, else 1 + max(layer of upstream)
    expected_duration_s: Optional[float] = None  # from the last run record; None: unknown (never measured)
    bottom_level_s: float = 1.0  # longest path of expected durations (1 s when unknown) to a sink of the plan

    __eq__ = value_eq
    __ne__ = value_ne
    __hash__ = tuple.__hash__

    def to_dict(self) -> dict:
        name, type_, outputs, inputs, upstream, layer, expected_duration_s, bottom_level_s = self  # one per recipe
        return {
            "name": name,
            "type": type_,
            "outputs": [o.to_dict() for o in outputs],
            "inputs": list(inputs),
            "upstream": list(upstream),
            "layer": layer,
            "expected_duration_s": expected_duration_s,
            "bottom_level_s": bottom_level_s,
        }

    @classmethod
    def from_dict(cls, data: dict) -> PlannedRecipe:
        return cls(
            name=data["name"],
            type=data.get("type", ""),
            outputs=tuple(OutputRef.from_dict(o) for o in data.get("outputs", [])),
            inputs=tuple(data.get("inputs", [])),
            upstream=tuple(data.get("upstream", [])),
            layer=int(data.get("layer", 0)),
            expected_duration_s=_seconds_or_none(data.get("expected_duration_s")),
            bottom_level_s=float(data.get("bottom_level_s", 1.0)),
        )


class PlanZone(NamedTuple):
    """A Flow zone holding planned recipes (``recipes`` in plan order)."""

    id: str
    name: str
    color: str
    recipes: Tuple[str, ...]

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "color": self.color, "recipes": list(self.recipes)}

    @classmethod
    def from_dict(cls, data: Mapping) -> PlanZone:
        return cls(
            str(data["id"]),
            str(data.get("name", data["id"])),
            str(data.get("color", "")),
            tuple(data.get("recipes", ())),
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
    ordered: bool = False  # ``recipes`` follows the user's ordered list: with one slot, run exactly in this order
    #: Flow zones holding planned recipes, in project order (empty when the project puts every recipe in the
    #: default zone): the dry run and the report group recipes by them.
    zones: Tuple[PlanZone, ...] = ()
    #: Grouped-jobs strategy: the recipes run as one DSS job each (chains, in dependency order), in plan order;
    #: empty for the other strategies (see :func:`with_job_groups`).
    job_groups: Tuple[Tuple[str, ...], ...] = ()
    #: Grouped jobs: which grouping was chosen (chains, or one job for the whole plan) and why; None otherwise.
    grouping: Optional[GroupingChoice] = None
    _index: Dict[str, PlannedRecipe] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._index.update(zip(map(attrgetter("name"), self.recipes), self.recipes))

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
        if not self.recipes:
            return []
        numbers = [r.layer for r in self.recipes]
        out: List[List[str]] = [[] for _ in range(max(numbers) + 1)]
        for name, number in zip(map(attrgetter("name"), self.recipes), numbers):
            out[number].append(name)
        return out

    @property
    def total_work_s(self) -> float:
        return sum(
            DEFAULT_EXPECTED_DURATION_S if r.expected_duration_s is None else r.expected_duration_s
            for r in self.recipes
        )

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
            "ordered": self.ordered,
            "zones": [z.to_dict() for z in self.zones],
            "job_groups": [list(group) for group in self.job_groups],
            **({"grouping": self.grouping.to_dict()} if self.grouping is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> BuildPlan:
        return cls(
            project_key=data["project_key"],
            recipes=tuple(PlannedRecipe.from_dict(r) for r in data.get("recipes", [])),
            build_mode=data.get("build_mode", "NON_RECURSIVE_FORCED_BUILD"),
            strategy=data.get("strategy", "per-recipe"),
            targets=tuple(OutputRef.from_dict(t) for t in data.get("targets", [])),
            critical_path=tuple(data.get("critical_path", [])),
            critical_path_s=float(data.get("critical_path_s", 0.0)),
            notes=tuple(data.get("notes", [])),
            ordered=bool(data.get("ordered", False)),
            zones=tuple(PlanZone.from_dict(z) for z in data.get("zones", [])),
            job_groups=tuple(tuple(group) for group in data.get("job_groups") or ()),
            grouping=GroupingChoice.from_dict(data["grouping"]) if isinstance(data.get("grouping"), Mapping) else None,
        )


def with_job_groups(
    plan: BuildPlan,
    partitioned: Collection[str] = (),
    *,
    overhead: Optional[JobOverhead] = None,
    work: Optional[Mapping[str, float]] = None,
    max_parallel: int = 1,
) -> BuildPlan:
    """The plan with its job groups (grouped-jobs strategy; the plan itself for the others).

    The chains DSS runs as one job each, or, when what a DSS job costs is known (``overhead``: set by the user or
    learned from the last run) and one job for the whole plan is estimated clearly faster under ``max_parallel``, that
    one job. ``partitioned`` names the run project's outputs built by partition: a job never mixes them with outputs
    built whole. ``work``: seconds of each recipe's own work (without its job's overhead), the plan's default else.
    """
    if plan.strategy != GROUPED:
        return plan
    chains = job_groups(plan.recipes, partitioned=partitioned, project_key=plan.project_key, ordered=plan.ordered)
    groups, choice = choose_grouping(
        plan.recipes,
        chains,
        overhead=overhead,
        work=work or {},
        default_s=DEFAULT_EXPECTED_DURATION_S,
        max_parallel=max_parallel,
        whole_plan_allowed=not plan.ordered and one_partitioning(plan.recipes, partitioned, plan.project_key),
    )
    return replace(plan, job_groups=tuple(groups), grouping=choice, _index={})


def per_recipe_job_type(build_mode: str) -> str:
    """DSS job type for one recipe's job in the per-recipe strategy.

    The plan already holds the upstream recipes a recursive mode asks for and runs them first, so a
    forced mode becomes a non-recursive forced build of that recipe alone; the "smart" modes are passed
    through so that DSS itself skips outputs that are already up to date (or already present).
    """
    if build_mode in ("NON_RECURSIVE_FORCED_BUILD", "RECURSIVE_FORCED_BUILD"):
        return "NON_RECURSIVE_FORCED_BUILD"
    return build_mode


def is_recursive(build_mode: str) -> bool:
    """Recursive modes build what the selection needs upstream; the plan includes those recipes."""
    return build_mode.startswith("RECURSIVE")


def make_plan(
    graph: FlowGraph,
    config: BuildConfig,
    project_key: str,
    expected_durations: Optional[Mapping[str, float]] = None,
    only: Optional[Iterable[str]] = None,
) -> BuildPlan:
    """The plan a run executes: the selected recipes, what each waits for, layers, priorities and critical path.

    :param expected_durations: seconds per recipe (from the last run record); 1 s for recipes without one
    :param only: resume: re-run just these recipes (dependencies among them kept); the selection is not re-resolved
    :raises SelectionError: when the selection is invalid or empty (not for ``only``, which may be empty)
    """
    with gc_paused():
        return _make_plan(graph, config, project_key, expected_durations, only)


def _make_plan(
    graph: FlowGraph,
    config: BuildConfig,
    project_key: str,
    expected_durations: Optional[Mapping[str, float]],
    only: Optional[Iterable[str]],
) -> BuildPlan:
    options = config.options
    notes: List[str] = []
    if only is None:
        resolved = resolve_selection(graph, config.selection, options.build_mode)
        names = list(resolved.recipes)
        notes.extend(resolved.notes)
        ordered = resolved.ordered
    else:
        wanted = list(dict.fromkeys(only))
        present = [n for n in wanted if graph.is_runnable(n)]
        gone = [n for n in wanted if not graph.is_runnable(n)]
        preferred = list(config.selection.recipes) if config.selection.ordered else []
        names = order_by_preference(graph, present, preferred) if preferred else graph.in_topological_order(present)
        ordered = bool(preferred)
        notes.append(f"Resume: re-running {len(names)} recipe(s) that did not succeed in the previous run")
        if gone:
            notes.append(
                "Resume: left out {} recipe(s) no longer runnable in the Flow: {}".format(len(gone), ", ".join(gone))
            )

    if len(names) == len(graph) and not ordered:
        # The whole Flow in its own order (the common case): reuse the graph's adjacency and layers.
        upstream: Mapping[str, Tuple[str, ...]] = graph.upstream_map
        downstream: Mapping[str, Sequence[str]] = graph.downstream_map
        layer: Mapping[str, int] = graph.layer_map
    else:
        upstream = _nearest_planned_upstream(graph, names)
        downstream = {n: [] for n in names}
        for name in names:
            for u in upstream[name]:
                downstream[u].append(name)
        layer = layers_of(names, upstream)
    durations = _expected(names, expected_durations)  # None: every recipe takes the default
    bottom = bottom_levels_of(names, downstream, durations, DEFAULT_EXPECTED_DURATION_S)
    critical, critical_s = critical_path_of(names, downstream, bottom)
    # Column by column, in PlannedRecipe's field order: one zip() and tuple.__new__ per recipe, no Python frame
    # (PlannedRecipe(...) runs the generated __new__ in Python; a partial would cost a call more).
    recipes = tuple(
        map(
            tuple.__new__,
            repeat(PlannedRecipe),
            zip(
                names,
                graph.recipe_types_of(names),
                graph.outputs_of(names),
                graph.inputs_of(names),
                map(upstream.__getitem__, names),
                map(layer.__getitem__, names),
                repeat(None) if durations is None else map(durations.__getitem__, names),
                map(bottom.__getitem__, names),
            ),
        )
    )
    targets = _targets(graph, names, downstream, options.build_mode, options.strategy, notes)
    return BuildPlan(
        project_key=project_key,
        recipes=recipes,
        build_mode=options.build_mode,
        strategy=options.strategy,
        targets=targets,
        critical_path=critical,
        critical_path_s=critical_s,
        notes=tuple(notes),
        ordered=ordered,
        zones=tuple(PlanZone(z.id, z.name, z.color, tuple(r)) for z, r in graph.zones.group(names))
        if graph.zones.in_use
        else (),
    )


def _nearest_planned_upstream(graph: FlowGraph, names: Sequence[str]) -> Dict[str, Tuple[str, ...]]:
    """For each planned recipe, the nearest planned recipes upstream, looking through recipes left out of the plan.

    One pass over the Flow in topological order: a recipe outside the plan forwards the planned recipes it waits for.
    """
    in_plan = {n: i for i, n in enumerate(names)}
    carry: Dict[str, Tuple[str, ...]] = {}
    result: Dict[str, Tuple[str, ...]] = {}
    up = graph.upstream_map
    for recipe in graph.recipes:
        ups = up[recipe]
        if not ups:
            if recipe in in_plan:
                result[recipe] = ()
            continue
        found: List[str] = []
        single: Optional[Tuple[str, ...]] = None
        contributions = 0
        for u in ups:
            if u in in_plan:
                found.append(u)
                contributions += 1
            else:
                forwarded = carry.get(u)
                if forwarded:
                    found.extend(forwarded)
                    single = forwarded
                    contributions += 1
        if recipe in in_plan:
            if len(found) > 1:
                found = sorted(set(found), key=in_plan.__getitem__)
            result[recipe] = tuple(found)
        elif found:
            # Share the tuple when one upstream forwards everything: chains of left-out recipes stay O(1) each.
            carry[recipe] = single if contributions == 1 and single is not None else tuple(dict.fromkeys(found))
    return result


def _expected(names: Sequence[str], expected: Optional[Mapping[str, float]]) -> Optional[Dict[str, Optional[float]]]:
    """Expected seconds of each recipe (None: unknown), or None when nothing is known at all."""
    if not expected:
        return None
    return {n: _seconds_or_none(expected.get(n)) for n in names}


def _targets(
    graph: FlowGraph,
    names: Sequence[str],
    downstream: Mapping[str, Sequence[str]],
    build_mode: str,
    strategy: str,
    notes: List[str],
) -> Tuple[OutputRef, ...]:
    """What one DSS job must be asked to build: the sinks' outputs in a recursive mode (DSS builds what they need).

    A non-recursive single job builds only the recipes writing its outputs, so then every planned recipe's outputs
    are targets.
    """
    if strategy == "single-job" and not is_recursive(build_mode):
        chosen = list(names)
        notes.append("Single job in a non-recursive mode: the job lists the outputs of every planned recipe")
    else:
        chosen = list(filterfalse(downstream.__getitem__, names))  # the sinks
    return tuple(dict.fromkeys(chain.from_iterable(graph.outputs_of(chosen))))


def expected_durations_from_record(record: Mapping) -> Dict[str, float]:
    """Seconds each recipe that succeeded in a previous run record took: the plan's priorities and the polling plan.

    DSS's own duration of the successful job (``job_duration_s`` of its attempt) comes first: the recipe's
    ``duration_s`` also holds the run's detection lag and earlier attempts, and learning from it would make every run
    poll a little later than the one before. Older records without it fall back on ``duration_s``. A recipe that
    shared its job with others (grouped jobs, single job) takes its own activity's time, where the record has it (its
    times differ from its job's); a recipe of a shared job whose activity was not read says nothing.
    """
    out: Dict[str, float] = {}
    plan = (record or {}).get("plan")
    single_job = isinstance(plan, Mapping) and plan.get("strategy") == "single-job"
    for item in (record or {}).get("recipes") or ():
        if not isinstance(item, Mapping) or item.get("state") != "SUCCESS":
            continue
        duration = None
        if single_job or item.get("job_group"):
            duration = own_duration_s(item, shared=bool(item.get("job_group")))
            if duration is None:
                continue
        for attempt in reversed(item.get("attempt_history") or () if duration is None else ()):
            if isinstance(attempt, Mapping) and attempt.get("state") == "SUCCESS":
                duration = attempt.get("job_duration_s")
                break
        if not _is_seconds(duration):
            duration = item.get("duration_s")
        if _is_seconds(duration):
            out[str(item.get("name"))] = round(float(duration), 3)
    return out


def _is_seconds(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def format_plan_text(plan: BuildPlan) -> str:
    """A readable dry-run listing: the summary, the critical path, then each layer's recipes and what they wait for."""
    label = BUILD_MODE_LABELS.get(plan.build_mode, plan.build_mode)
    layers = plan.layers
    lines = [
        f"Plan for project {plan.project_key}: {len(plan.recipes)} recipe(s) in {len(layers)} layer(s)",
        f"Build mode: {label} ({plan.build_mode}) · strategy: {plan.strategy}"
        + (" · in the listed order" if plan.ordered else ""),
    ]
    if not plan.recipes:
        lines.append("Nothing to run.")
    else:
        lines.append(
            "Critical path: {} ({} expected; total work {})".format(
                " → ".join(plan.critical_path),
                format_duration(plan.critical_path_s),
                format_duration(plan.total_work_s),
            )
        )
    if plan.strategy == "single-job" and plan.targets:
        lines.append("Single job targets: " + ", ".join(_ref_text(t) for t in plan.targets))
    if plan.grouping is not None:
        lines.append("Grouping: " + plan.grouping.reason)
    shared = [group for group in plan.job_groups if len(group) > 1]
    if plan.grouping is not None and plan.grouping.kind == WHOLE_PLAN and shared:
        lines.append(f"Grouped jobs: one DSS job for the whole plan ({len(shared[0])} recipes, each its own outcome)")
    elif shared:
        lines.append(
            f"Grouped jobs: {len(shared)} chain(s) run as one DSS job each, {len(plan.job_groups)} job(s) in all"
        )
        lines.extend(f"  job group {n}: " + " → ".join(group) for n, group in enumerate(shared, 1))
    on_critical = set(plan.critical_path)
    _layer_lines(plan, layers, on_critical, lines)
    if on_critical:
        lines.append("")
        lines.append("* on the critical path")
    if plan.zones:
        lines.append("")
        lines.append(f"By Flow zone ({len(plan.zones)} zone(s)):")
        for zone in plan.zones:
            lines.append(f"  {zone.name} ({len(zone.recipes)} recipe(s)): " + ", ".join(zone.recipes))
    if plan.notes:
        lines.append("")
        lines.append("Notes:")
        lines.extend(f"  - {note}" for note in plan.notes)
    return "\n".join(lines)


def _layer_lines(plan: BuildPlan, layers: List[List[str]], on_critical: Set[str], lines: List[str]) -> None:
    """Each layer's heading and one line per recipe (20,000 of them in a large plan: one f-string each, a single
    output and an unknown duration without a join or a call)."""
    group_number = shared_groups(plan.job_groups)
    recipe = plan.recipe
    for number, layer in enumerate(layers):
        lines.append("")
        lines.append(f"Layer {number} ({len(layer)} recipe(s))")
        for name in layer:
            r = recipe(name)
            outputs = r.outputs
            if len(outputs) == 1 and outputs[0].type == "DATASET" and not outputs[0].project_key:
                built = outputs[0].id
            else:
                built = ", ".join(map(_ref_text, outputs)) or "(no output)"
            duration = r.expected_duration_s
            text = (
                f"  {'*' if name in on_critical else ' '} {name}{f' [{r.type}]' if r.type else ''} → {built}"
                f"{' · duration unknown' if duration is None else f' · ~{format_duration(duration)}'}"
                f"{' · after ' + ', '.join(r.upstream) if r.upstream else ''}"
            )
            group = group_number.get(name)
            lines.append(text if group is None else f"{text} · job group {group}")


def _ref_text(ref: OutputRef) -> str:
    name = f"{ref.project_key}.{ref.id}" if ref.project_key else ref.id
    return name if ref.type == "DATASET" else f"{name} ({ref.type.lower().replace('_', ' ')})"
