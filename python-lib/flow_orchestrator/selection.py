"""Which recipes a run covers: targets, recipe names, an ordered recipe list, or dbt-style expressions.

Expressions use dbt's graph operators on recipe or dataset names: ``X`` (just X), ``+X`` (X and everything upstream),
``X+`` (X and everything downstream), ``+X+``, ``2+X`` / ``X+1`` (depth-limited), ``@X`` (X, its downstream, and
everything those need), ``tag:T`` and ``type:T`` (recipes by tag or recipe type), ``zone:Z`` (the recipes of a Flow
zone, by id or name; ``+zone:Z`` adds their upstream, ``zone:Z+`` their downstream). Terms separated by commas or
spaces are united; quotes keep a value with spaces whole (``zone:"Machine learning"``). A dataset name stands for the
recipe that writes it; ``+DS`` is that recipe and its upstream, ``DS+`` that recipe and every recipe downstream of the
dataset.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from .errors import SelectionError
from .text import did_you_mean

if TYPE_CHECKING:
    from .config.model import Selection
    from .graph import FlowGraph

SELECTOR_METHODS = ("tag", "type", "zone")

_TERM = re.compile(
    r"^(?P<at>@)?(?:(?P<up_depth>\d*)(?P<up>\+))?(?P<name>(?:\"[^\"]*\"|'[^']*'|[^+@\s,\"'])+?)"
    r"(?:(?P<down>\+)(?P<down_depth>\d*))?$"
)
_TOKEN = re.compile(r"(?:\"[^\"]*\"?|'[^']*'?|[^,\s\"'])+")  # a term; quoted parts may hold spaces and commas


@dataclass(frozen=True)
class SelectorSpec:
    """One parsed selector term, e.g. ``2+orders_prepared+`` or ``tag:nightly``."""

    text: str
    value: str  # the name, tag or type
    method: str = "name"  # name, tag, type
    upstream: bool = False
    upstream_depth: Optional[int] = None  # None: unlimited
    downstream: bool = False
    downstream_depth: Optional[int] = None
    at: bool = False  # @X: X, its downstream, and the upstream of all of those


@dataclass(frozen=True)
class ResolvedSelection:
    """The recipes a selection resolved to, in the order to run them, with remarks for the plan."""

    recipes: Tuple[str, ...]  # topological order; the user's list order when an ordered list was given
    notes: Tuple[str, ...] = ()
    ordered: bool = False  # ``recipes`` follows an ordered list given by the user


def split_expressions(expressions: Iterable[str]) -> List[str]:
    """Terms of a list of expression strings, split on commas and whitespace (``"a+, +b c"`` -> 3 terms)."""
    terms: List[str] = []
    for expression in expressions:
        terms.extend(_TOKEN.findall(expression or ""))
    return terms


def parse_selector(text: str, field: str = "select") -> SelectorSpec:
    """Parse one term; a term that is not valid selector syntax raises :class:`SelectionError` naming ``field``."""
    term = text.strip()
    match = _TERM.match(term)
    if not match:
        raise _error(
            [
                (
                    field,
                    f"{term!r} is not a valid selector: use NAME, +NAME, NAME+, +NAME+, 2+NAME, NAME+1, "
                    '@NAME, tag:TAG, type:TYPE or zone:ZONE (quote a zone name with spaces: zone:"My zone")',
                )
            ]
        )
    if match.group("at") and match.group("up"):
        raise _error([(field, f"{term!r}: '@' cannot be combined with a leading '+' (use @NAME or +NAME+)")])
    name = match.group("name").replace('"', "").replace("'", "")
    method = "name"
    if ":" in name:
        prefix, rest = name.split(":", 1)
        if prefix in SELECTOR_METHODS and rest:
            method, name = prefix, rest
        elif prefix not in SELECTOR_METHODS:
            raise _error(
                [
                    (
                        field,
                        f"{term!r}: unknown selector method {prefix!r}; use one of: "
                        + ", ".join(m + ":" for m in SELECTOR_METHODS),
                    )
                ]
            )
        else:
            raise _error([(field, f"{term!r}: {prefix}: needs a value, e.g. {prefix}:nightly")])
    up_depth = match.group("up_depth")
    down_depth = match.group("down_depth")
    return SelectorSpec(
        text=term,
        value=name,
        method=method,
        upstream=bool(match.group("up")),
        upstream_depth=int(up_depth) if up_depth else None,
        downstream=bool(match.group("down")),
        downstream_depth=int(down_depth) if down_depth else None,
        at=bool(match.group("at")),
    )


def select_recipes(graph: FlowGraph, expressions: Iterable[str], field: str = "select") -> Set[str]:
    """Union of the recipes every term of ``expressions`` selects (including recipes without outputs)."""
    problems: List[Tuple[str, str]] = []
    selected: Set[str] = set()
    for term in split_expressions(expressions):
        try:
            selected |= _apply(graph, parse_selector(term, field), field)
        except SelectionError as exc:
            problems.extend(getattr(exc, "problems", [(field, str(exc))]))
    if problems:
        raise _error(problems)
    return selected


def resolve_selection(
    graph: FlowGraph, selection: Selection, build_mode: str = "NON_RECURSIVE_FORCED_BUILD"
) -> ResolvedSelection:
    """The recipes ``selection`` covers in ``build_mode``, in run order.

    Recursive modes (``RECURSIVE_*``) add every recipe upstream of the selection; ``NON_RECURSIVE_FORCED_BUILD`` keeps
    exactly the selection. Exclusions apply last. An empty selection means every runnable recipe of the Flow.

    :raises SelectionError: unknown names (with suggestions), an ordered list that contradicts the Flow, duplicates
        in an ordered list, or a selection that resolves to nothing
    """
    if (
        selection.is_everything
        and not selection.exclude
        and not (selection.ordered and selection.recipes)
        and graph.runnable_recipes
    ):
        return ResolvedSelection(graph.runnable_recipes)  # the whole Flow, already in order: nothing to check
    problems: List[Tuple[str, str]] = []
    notes: List[str] = []
    explicit: Dict[str, str] = {}  # recipe named on purpose -> field, to report the ones no job can build
    selected: Set[str] = set()
    recipe_names = [_local(graph, n) for n in _clean(selection.recipes)]

    if selection.is_everything:
        selected.update(graph.runnable_recipes)
    else:
        for name in _clean(selection.targets):
            recipe = _target_recipe(graph, _local(graph, name), problems)
            if recipe is not None:
                selected.add(recipe)
                explicit.setdefault(recipe, "targets")
        for name in recipe_names:
            if graph.is_recipe(name):
                selected.add(name)
                explicit.setdefault(name, "recipes")
            else:
                problems.append(("recipes", _unknown_recipe(graph, name)))
        for text in _clean(selection.zones):
            try:
                selected |= _zone_recipes(graph, text, text, "zones")
            except SelectionError as exc:
                problems.extend(exc.problems)
        if selection.ordered:
            counts = Counter(recipe_names)
            for name in sorted(n for n, c in counts.items() if c > 1):
                problems.append(("recipes", f"{name!r} is listed more than once; list each recipe once"))
        for term in split_expressions(selection.select):
            try:
                spec = parse_selector(term, "select")
                found = _apply(graph, spec, "select")
                if spec.method == "name" and not (spec.upstream or spec.downstream or spec.at):
                    for r in found:
                        explicit.setdefault(r, "select")
                selected |= found
            except SelectionError as exc:
                problems.extend(exc.problems)

    excluded: Set[str] = set()
    if selection.exclude:
        try:
            excluded = select_recipes(graph, selection.exclude, "exclude")
        except SelectionError as exc:
            problems.extend(exc.problems)
    for recipe, field in explicit.items():
        if not graph.is_runnable(recipe) and recipe not in excluded:
            problems.append((field, f"recipe {recipe!r} has no output in the Flow, so no job can run it"))
    if problems:
        raise _error(problems)

    if build_mode.startswith("RECURSIVE") and not selection.is_everything:
        added = graph.upstream_closure(selected) - selected
        if added:
            selected |= added
            shown = _names(graph.in_topological_order(added))
            notes.append(f"{build_mode} adds {len(added)} upstream recipe(s): {shown}")
    not_runnable = sorted(selected.difference(graph.runnable_recipes))
    if not_runnable:
        selected.difference_update(not_runnable)
        notes.append(f"Left out {len(not_runnable)} recipe(s) without outputs: {_names(not_runnable)}")
    removed = selected & excluded
    if removed:
        selected -= removed
        notes.append(f"Excluded {len(removed)} recipe(s): {_names(graph.in_topological_order(removed))}")
    if not selected:
        raise _error([("", _nothing_selected(graph, selection, bool(removed)))])

    if selection.ordered and selection.recipes:
        listed = [n for n in dict.fromkeys(recipe_names) if n in selected]
        order, reorder_notes = _follow_list(graph, selected, listed, selection.reorder)
        notes.extend(reorder_notes)
        return ResolvedSelection(tuple(order), tuple(notes), ordered=True)
    return ResolvedSelection(tuple(graph.in_topological_order(selected)), tuple(notes), ordered=False)


def order_by_preference(graph: FlowGraph, recipes: Iterable[str], preferred: Sequence[str] = ()) -> List[str]:
    """A topological order of ``recipes`` (dependencies through other recipes respected) that follows ``preferred``
    as closely as possible: among ready recipes, unlisted ones come first (in Flow order), then the earliest listed.

    When ``preferred`` is already a valid order of the listed recipes it is kept exactly.
    """
    wanted = set(recipes)
    position = {name: i for i, name in enumerate(preferred)}
    region = wanted | graph.upstream_closure(wanted)
    indegree = {r: 0 for r in region}
    for r in region:
        for u in graph.upstream(r):
            if u in indegree:
                indegree[r] += 1
    index = graph.topological_index
    ready = [(_rank(r, wanted, position), index(r), r) for r, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    out: List[str] = []
    down = graph.downstream_map
    while ready:
        _, _, r = heapq.heappop(ready)
        if r in wanted:
            out.append(r)
        for d in down[r]:
            if d in indegree:
                indegree[d] -= 1
                if indegree[d] == 0:
                    heapq.heappush(ready, (_rank(d, wanted, position), index(d), d))
    return out


def _rank(recipe: str, wanted: Set[str], position: Dict[str, int]) -> int:
    # Recipes outside the list (helpers on the way, upstream additions) go first so they never hold a listed one.
    if recipe not in wanted or recipe not in position:
        return -1
    return position[recipe]


def _follow_list(graph: FlowGraph, selected: Set[str], listed: List[str], reorder: bool) -> Tuple[List[str], List[str]]:
    """Check an ordered list against the Flow; reorder it when allowed, else raise naming the first contradictions."""
    violations = _order_violations(graph, listed)
    if violations and not reorder:
        lines = [_violation_text(graph, early, late) for early, late in violations[:3]]
        more = len(violations) - 3
        if more > 0:
            lines.append(f"... and {more} more recipe(s) listed before something they depend on")
        raise _error([("recipes", line) for line in lines])
    order = order_by_preference(graph, selected, listed)
    notes: List[str] = []
    if violations:
        moved = "; ".join(f"{late} now runs before {early}" for early, late in violations[:5])
        notes.append(f"Reordered the recipe list to follow the Flow ({moved}): {_names(order)}")
    return order, notes


def _order_violations(graph: FlowGraph, listed: List[str]) -> List[Tuple[str, str]]:
    """Pairs (early, late): ``early`` is listed before ``late`` but depends on it, directly or through the Flow.

    One pass in topological order carrying, for every recipe, the listed ancestor with the latest list position.
    """
    position = {name: i for i, name in enumerate(listed)}
    if len(position) < 2:
        return []
    region = graph.upstream_closure(position) | set(position)
    latest: Dict[str, Tuple[int, str]] = {}
    violations: List[Tuple[str, str]] = []
    for recipe in graph.in_topological_order(region):
        best: Optional[Tuple[int, str]] = None
        for u in graph.upstream(recipe):
            if u not in region:
                continue
            candidate = latest.get(u)
            if u in position and (candidate is None or position[u] > candidate[0]):
                candidate = (position[u], u)
            if candidate is not None and (best is None or candidate[0] > best[0]):
                best = candidate
        if best is not None:
            latest[recipe] = best
            if recipe in position and best[0] > position[recipe]:
                violations.append((recipe, best[1]))
    violations.sort(key=lambda pair: position[pair[0]])
    return violations


def _violation_text(graph: FlowGraph, early: str, late: str) -> str:
    shared = [k for k in graph.output_keys(late) if k in set(graph.inputs(early))]
    if shared:
        why = f"{early} reads {shared[0]} which {late} produces"
    else:
        why = f"{early} depends on {late} through the Flow ({' → '.join(_path(graph, late, early))})"
    return f"{early} is listed before {late}, but {why}; reorder the list or allow reordering ('Fix the order' in the step, --reorder on the command line)"


def _path(graph: FlowGraph, source: str, target: str) -> List[str]:
    """One dependency path of recipes from ``source`` down to ``target`` (breadth-first, so a shortest one)."""
    parent: Dict[str, Optional[str]] = {target: None}
    frontier = [target]
    while frontier and source not in parent:
        nxt = []
        for r in frontier:
            for u in graph.upstream(r):
                if u not in parent:
                    parent[u] = r
                    nxt.append(u)
        frontier = nxt
    path = [source]
    node = parent.get(source)
    while node is not None:
        path.append(node)
        node = parent[node]
    return path


def _apply(graph: FlowGraph, spec: SelectorSpec, field: str) -> Set[str]:
    """Recipes one selector term selects."""
    problems: List[Tuple[str, str]] = []
    readers: Tuple[str, ...] = ()
    is_dataset = False
    if spec.method == "tag":
        seeds = {r for r in graph.recipes if spec.value in graph.recipe_tags(r)}
        if not seeds:
            problems.append((field, _unknown_value(spec.text, "tag", spec.value, graph.all_tags())))
    elif spec.method == "type":
        seeds = {r for r in graph.recipes if graph.recipe_type(r) == spec.value}
        if not seeds:
            types = sorted({graph.recipe_type(r) for r in graph.recipes} - {""})
            problems.append((field, _unknown_value(spec.text, "recipe type", spec.value, types)))
    elif spec.method == "zone":
        seeds = _zone_recipes(graph, spec.value, spec.text, field)
    elif graph.is_recipe(_local(graph, spec.value)):
        seeds = {_local(graph, spec.value)}
    elif graph.has_node(_local(graph, spec.value)) and graph.is_computable(_local(graph, spec.value)):
        spec = replace(spec, value=_local(graph, spec.value))
        is_dataset = True
        producer = graph.producer(spec.value)
        seeds = {producer} if producer else set()
        readers = graph.readers(spec.value)
        if spec.upstream or spec.at:
            seeds |= set(graph.producers(spec.value))
        if not seeds and not (spec.downstream or spec.at):
            problems.append((field, f"{spec.text!r}: {_why_unbuilt(graph, spec.value)}"))
    else:
        prefix = "" if spec.text == spec.value else f"{spec.text!r}: "
        problems.append((field, prefix + _unknown_name(graph, spec.value)))
    if problems:
        raise _error(problems)

    result = set(seeds)
    if spec.upstream:
        result |= graph.upstream_closure(seeds, spec.upstream_depth)
    if spec.downstream or spec.at:
        depth = None if spec.at else spec.downstream_depth
        if not is_dataset:
            result |= graph.downstream_closure(seeds, depth)
        elif depth is None or depth >= 1:
            # Downstream of a dataset: the recipes reading it (1 step), then theirs; not its producer's siblings.
            result |= set(readers)
            result |= graph.downstream_closure(readers, None if depth is None else depth - 1)
    if spec.at:
        result |= graph.upstream_closure(result)
    return result


def _zone_recipes(graph: FlowGraph, value: str, text: str, field: str) -> Set[str]:
    """The recipes of the zones ``value`` names (id or name); an unknown or empty zone raises naming ``field``."""
    zones = graph.zones.find(value)
    if not zones:
        known = [z.name for z in graph.zones.zones]
        prefix = "" if text == value else f"{text!r}: "
        spaced = [n for n in known if " " in n and n.lower().startswith(value.lower() + " ")]
        if spaced:  # an unquoted name with spaces was split into terms
            hint = f'; quote a zone name with spaces: zone:"{spaced[0]}"'
        else:
            hint = _suggest(value, known, True)
        raise _error([(field, f"{prefix}{value!r} is not a Flow zone of the project{hint}")])
    recipes = set(graph.zones.recipes_in([z.id for z in zones], graph.recipes))
    if not recipes:
        names = " / ".join(repr(z.name) for z in zones)
        raise _error([(field, f"{text!r}: zone {names} has no recipe (it holds only datasets or folders)")])
    return recipes


def _local(graph: FlowGraph, name: str) -> str:
    """``PROJ.name`` -> ``name`` when PROJ is the graph's own project (DSS pickers may qualify own datasets)."""
    key = graph.project_key
    if key and name.startswith(key + ".") and graph.has_node(name[len(key) + 1 :]):
        return name[len(key) + 1 :]
    return name


def _target_recipe(graph: FlowGraph, name: str, problems: List[Tuple[str, str]]) -> Optional[str]:
    if graph.is_recipe(name):
        return name  # a recipe given as a target: the user means "build what it writes"
    if graph.has_node(name) and graph.is_computable(name):
        producer = graph.producer(name)
        if producer is None:
            problems.append(("targets", f"{name!r}: {_why_unbuilt(graph, name)}"))
        return producer
    problems.append(("targets", _unknown_name(graph, name)))
    return None


def _why_unbuilt(graph: FlowGraph, computable: str) -> str:
    if graph.is_foreign(computable):
        project = computable.split(".", 1)[0]
        return f"it belongs to project {project} and can only be built there"
    if graph.producers(computable):
        return "it is written by an implicit recipe, which DSS runs as part of the recipes downstream"
    return "no recipe writes it (it is a source of the Flow); select the recipes that read it with NAME+"


def _unknown_name(graph: FlowGraph, name: str) -> str:
    candidates = list(graph.recipes) + graph.computables()
    return f"{name!r} is neither a recipe nor a dataset of the Flow" + _suggest(name, candidates)


def _unknown_recipe(graph: FlowGraph, name: str) -> str:
    if graph.has_node(name) and graph.is_computable(name):
        producer = graph.producer(name)
        hint = f"; it is written by recipe {producer!r}" if producer else ""
        return f"{name!r} is a dataset, not a recipe{hint} (use targets to build datasets)"
    return f"{name!r} is not a recipe of the Flow" + _suggest(name, list(graph.recipes))


def _unknown_value(text: str, kind: str, value: str, known: List[str]) -> str:
    if not known:
        return f"{text!r}: no recipe has a {kind} (none is set in this Flow)"
    return f"{text!r}: no recipe has the {kind} {value!r}" + _suggest(value, known, always_list=True)


def _suggest(name: str, candidates: List[str], always_list: bool = False) -> str:
    hint = did_you_mean(name, candidates)
    if hint or not always_list:
        return hint
    return "; known: " + ", ".join(candidates[:20]) + (" ..." if len(candidates) > 20 else "")


def _nothing_selected(graph: FlowGraph, selection: Selection, excluded_some: bool) -> str:
    if not graph.runnable_recipes:
        return "The Flow has no recipe that a job can run (no recipe with an output)."
    if excluded_some:
        return "The selection is empty: every selected recipe is excluded. Narrow 'exclude' or widen the selection."
    return "The selection matches no recipe that a job can run. Check 'targets', 'recipes' and 'select'."


def _clean(names: Iterable[str]) -> Tuple[str, ...]:
    return tuple(n.strip() for n in names if n and n.strip())


def _names(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _error(problems: List[Tuple[str, str]]) -> SelectionError:
    """A SelectionError carrying every (field, message), like ConfigError, so forms can show each under its field."""
    lines = [f"{field}: {message}" if field else message for field, message in problems]
    if len(lines) == 1:
        text = lines[0]
    else:
        text = "Invalid selection ({} problems):\n- {}".format(len(lines), "\n- ".join(lines))
    error = SelectionError(text)
    error.problems = list(problems)
    return error
