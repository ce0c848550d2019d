"""FlowGraph: a project's Flow as recipes and the computables they read and write, built from one API call.

Built from one ``GET /projects/{pk}/flow/graph/`` payload (plus, optionally, the recipe list for types and tags)
instead of ``dataikuapi``'s traversal helpers, which recurse (RecursionError on ~600-deep chains) and rescan the
node list (quadratic). Every walk here is iterative and every build step is O(V + E).

Vocabulary: a *node* is any key of the payload's ``nodes`` map; a *recipe* is a ``RUNNABLE_RECIPE`` of this project
(the only thing we run); a *computable* is a dataset, folder, saved model... Implicit recipes, labeling tasks and
objects of other projects are never run by us: dependencies pass through them.

Why it is built this way: building must cost about as much as parsing the payload (``make bench`` checks it on a
10,000-recipe Flow), and what costs is not arithmetic but memory: each lookup of a node by name lands on a random
place of a large heap. So the graph keeps the payload's node objects and link lists as its store (read in place,
never copied) once they are known to be *regular* (each link listed once on both ends, as DSS answers), and a plain
Flow (every link joins a recipe to a dataset, folder...) is built in one pass over its nodes that checks each
node's shape and, at each recipe, looks each neighbour up once, for the consistency check, the upstream recipes, the
readers, the job outputs and the layers together (:meth:`FlowGraph._link_plain_flow`). Any other Flow takes the
general path (:meth:`FlowGraph._link_any_flow`).
Recipes stay keyed by name: mapping names to integers would itself cost a lookup per link, the very cost saved.
"""

from __future__ import annotations

import contextlib
import gc
import graphlib
import heapq
import operator
from collections import deque
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from .errors import GraphError
from .port import OutputRef
from .zones import NO_ZONES, FlowZones

RECIPE_NODE = "RUNNABLE_RECIPE"

#: Flow graph node type -> job output type (``JobDefinitionBuilder.with_output(object_type=...)``).
JOB_OUTPUT_TYPES = {
    "COMPUTABLE_DATASET": "DATASET",
    "COMPUTABLE_FOLDER": "MANAGED_FOLDER",
    "COMPUTABLE_SAVED_MODEL": "SAVED_MODEL",
    "COMPUTABLE_STREAMING_ENDPOINT": "STREAMING_ENDPOINT",
    "COMPUTABLE_MODEL_EVALUATION_STORE": "MODEL_EVALUATION_STORE",
    "COMPUTABLE_RETRIEVABLE_KNOWLEDGE": "RETRIEVABLE_KNOWLEDGE",
}

_EMPTY: Tuple[str, ...] = ()
_PREDECESSORS = operator.itemgetter("predecessors")


def job_output_type(node_type: str) -> str:
    """Job output type for a computable node type; unknown ``COMPUTABLE_X`` types map to ``X``."""
    known = JOB_OUTPUT_TYPES.get(node_type)
    if known is not None:
        return known
    return node_type[len("COMPUTABLE_") :] if node_type.startswith("COMPUTABLE_") else node_type


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while building big acyclic structures.

    Building a 10,000-recipe graph allocates ~10^5 containers and no reference cycles; the collector would rescan the
    growing heap many times for nothing (it doubled build time in measurements). Re-enabled on exit, errors included.

    What was built is long-lived (a graph, a plan): on exit it goes straight to the oldest generation, which
    ``freeze()`` + ``unfreeze()`` do in O(1), instead of the next young collection scanning all of it only to promote
    it (a third of a plan's build time). Not done when the application keeps objects frozen: unfreeze would release
    them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


# ---------------------------------------------------------------------------------------------------------------
# Algorithms on any DAG given as (order, adjacency): shared by the whole Flow and by plans (a subgraph of it).


def layers_of(order: Sequence[str], upstream: Mapping[str, Sequence[str]]) -> Dict[str, int]:
    """Layer of each node: 0 without upstream, else 1 + max layer of its upstream. ``order`` is topological."""
    layer: Dict[str, int] = {}
    for name in order:
        top = -1
        for u in upstream.get(name, _EMPTY):
            if layer[u] > top:
                top = layer[u]
        layer[name] = top + 1
    return layer


def bottom_levels_of(
    order: Sequence[str],
    downstream: Mapping[str, Sequence[str]],
    durations: Optional[Mapping[str, float]] = None,
    default_s: float = 1.0,
) -> Dict[str, float]:
    """Longest path of expected durations from each node to a sink, both ends included.

    It is the list-scheduling priority: under a concurrency cap, starting the ready recipe with the highest bottom
    level first keeps the makespan close to max(critical path, total work / slots).
    """
    level: Dict[str, float] = {}
    below = level.__getitem__
    if not durations:  # every node takes default_s (a first run): the loop without per-node lookups
        default = default_s + 0.0
        for name, downs in zip(reversed(order), map(downstream.get, reversed(order))):
            if not downs:
                level[name] = default
            elif len(downs) == 1:  # the usual case, without a map and a max
                level[name] = default + below(downs[0])
            else:
                level[name] = default + max(map(below, downs))
        return level
    for name in reversed(order):
        given = durations.get(name)
        downs = downstream.get(name)
        longest = max(map(below, downs)) if downs else 0.0
        level[name] = (float(given) if given is not None and given >= 0 else default_s) + longest
    return level


def critical_path_of(
    order: Sequence[str], downstream: Mapping[str, Sequence[str]], bottom_levels: Mapping[str, float]
) -> Tuple[Tuple[str, ...], float]:
    """The longest expected-duration path (names from source to sink) and its length; ties go to earlier nodes."""
    if not order:
        return (), 0.0
    level = bottom_levels.__getitem__
    levels = list(map(level, order))
    start = order[levels.index(max(levels))]  # the first of equal candidates
    path = [start]
    downs = downstream.get(start)
    while downs:
        best = max(downs, key=level)
        path.append(best)
        downs = downstream.get(best)
    return tuple(path), bottom_levels[start]


def _bfs(starts: Iterable[str], adjacency: Mapping[str, Sequence[str]], depth: Optional[int]) -> Set[str]:
    """Nodes reachable from ``starts`` in 1..depth steps (any number when depth is None); starts only if reached."""
    seen: Set[str] = set()
    frontier = list(dict.fromkeys(starts))
    steps = 0
    while frontier and (depth is None or steps < depth):
        steps += 1
        nxt = []
        for name in frontier:
            for other in adjacency.get(name, _EMPTY):
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
    return seen


# ---------------------------------------------------------------------------------------------------------------


class FlowGraph:
    """A project's Flow: recipes in topological order, what they read and write, and their dependencies.

    Create it with :meth:`from_payload`. Recipe names are the ``nodes`` keys of own-project ``RUNNABLE_RECIPE`` nodes;
    computables are named by their node key (the smart name: ``orders``, or ``OTHER.customers`` for a foreign one).
    """

    def __init__(self) -> None:
        # Filled by from_payload; kept private so that every public view is derived consistently.
        self.project_key: Optional[str] = None
        # The payload's node objects, regular (see _is_regular): the store of types, refs and links, read in place.
        self._nodes: Dict[str, dict] = {}
        self._node_index: Optional[Dict[str, int]] = None  # payload position of each node, built when first needed
        self._project: Dict[str, str] = {}  # owning project of foreign nodes only
        self._flow_recipes: List[str] = []  # recipes of this project in payload order
        self._recipe_set: Set[str] = set()
        self._recipe_type: Dict[str, str] = {}
        self._recipe_tags: Dict[str, Tuple[str, ...]] = {}
        self._up: Dict[str, Tuple[str, ...]] = {}
        self._down: Dict[str, List[str]] = {}
        self._order: Tuple[str, ...] = ()
        self._runnable: Tuple[str, ...] = ()
        self._without_outputs: Optional[Set[str]] = None  # recipes without outputs, when the fast path found them
        self._inputs: Dict[str, Tuple[str, ...]] = {}  # inputs of each recipe, when the fast path made them
        self._pos: Optional[Dict[str, int]] = None  # topological index of each recipe, built when first needed
        self._layer: Dict[str, int] = {}
        self._outputs_cache: Dict[str, Tuple[OutputRef, ...]] = {}
        self._producers_memo: Dict[str, Tuple[str, ...]] = {}
        #: The project's Flow zones (read with the graph by the pipeline); every recipe in Default until set.
        self.zones: FlowZones = NO_ZONES

    # -- construction -------------------------------------------------------------------------------------------

    @classmethod
    def from_payload(
        cls,
        graph_payload: dict,
        recipes: Optional[Sequence[dict]] = None,
        project_key: Optional[str] = None,
    ) -> FlowGraph:
        """Build the graph from the flow-graph payload and, optionally, the project's recipe list items.

        :param graph_payload: the JSON answer of ``GET /projects/{pk}/flow/graph/`` (only ``nodes`` is read)
        :param recipes: items of ``GET /projects/{pk}/recipes/`` (``name``, ``type``, ``tags``) for types and tags
        :param project_key: the project the payload belongs to (tells own objects from foreign ones by ``fullId``)
        :raises GraphError: malformed payload, dangling reference, or a cycle
        """
        nodes = graph_payload.get("nodes") if isinstance(graph_payload, dict) else None
        if not isinstance(nodes, dict):
            raise GraphError(
                "The Flow graph payload has no 'nodes' map: pass the JSON answer of GET /projects/{key}/flow/graph/."
            )
        graph = cls()
        graph.project_key = project_key
        with gc_paused():
            graph._nodes = nodes
            if not graph._link_plain_flow():
                graph._link_any_flow()
            graph._read_recipe_items(recipes or ())
            graph._sort()
        return graph

    def _link_plain_flow(self) -> bool:
        """The fast path, for a *plain* Flow: every link joins one of its recipes to a non-recipe node. False if not.

        That is most Flows (no implicit recipes, no recipes of other projects). One pass over the nodes checks their
        shape, counts the links listed at recipes and at other nodes and, at each recipe, looks up each input and
        output node once, which checks the link from the far end too (its listing at the other node) and gives the
        producers (upstream), the readers (downstream) and the layers while every recipe's upstream precedes it in the
        payload (the usual case: DSS lists objects as they were created, and a recipe is created after its inputs);
        see :func:`_plain_links`. No recipe lists a link twice and no recipe's output is a recipe, so distinct
        listings at recipes have distinct far ends at other nodes; if the other nodes list no more links than that,
        they list nothing else: every link is listed once on both ends (the payload is regular, see
        :func:`_is_regular`), every other node's predecessors are recipes, so the upstream found is complete. Nothing
        is kept unless all of this holds; the general path then starts over.
        """
        nodes = self._nodes
        links = _plain_links(nodes)
        if links is None:
            return False
        foreign = self._foreign_owners(links.dotted)
        if foreign and not foreign.keys().isdisjoint(links.recipes):
            return False  # a recipe of another project: the general path sees through it
        outputs = _plain_job_outputs(links, nodes)
        if outputs is None:
            return False
        self._project = foreign
        self._flow_recipes = links.recipes
        self._recipe_set = set(links.recipes)
        self._up = links.up
        self._down = links.down
        self._layer = links.layer
        self._without_outputs = links.without_outputs
        self._inputs = links.inputs
        self._outputs_cache = outputs
        self._remake_foreign_outputs()
        return True

    def _link_any_flow(self) -> None:
        """The general path: any regular payload (an irregular one is copied into a regular one first, or reported).

        Producers are found through implicit recipes and objects of other projects (:meth:`_effective_producers`).
        """
        nodes = self._nodes
        if not _is_regular(nodes):
            nodes = self._nodes = _regular_copy(nodes)
        dotted = [key for key in nodes if "." in key]
        self._project = foreign = self._foreign_owners(dotted)
        self._flow_recipes = recipes = [
            key for key, node in nodes.items() if node.get("type") == RECIPE_NODE and key not in foreign
        ]
        self._recipe_set = own = set(recipes)
        up = self._up = {}
        down: Dict[str, List[str]] = {r: [] for r in recipes}
        for recipe in recipes:
            found: List[str] = []
            for computable in nodes[recipe]["predecessors"]:
                if computable in own:
                    found.append(computable)
                    continue
                for producer in nodes[computable]["predecessors"]:
                    if producer in own:
                        found.append(producer)
                    else:
                        found.extend(self._effective_producers(producer))
            if len(found) > 1:
                found = list(dict.fromkeys(found))
            up[recipe] = ups = tuple(found)
            for u in ups:
                down[u].append(recipe)
        self._down = down
        self._layer = {}  # computed by _sort
        self._outputs_cache = {}

    def _foreign_owners(self, dotted: Iterable[str]) -> Dict[str, str]:
        """Owning project of each foreign node; objects of other projects are named PROJECT.name, so only keys with a
        dot can be foreign."""
        owners: Dict[str, str] = {}
        for key in dotted:
            node = self._nodes[key]
            owner = _owner_project(key, node, self.project_key, node.get("type") or "")
            if owner is not None:
                owners[key] = owner
        return owners

    def _remake_foreign_outputs(self) -> None:
        """A foreign output is named in its own project: remake the job outputs of the recipes writing one."""
        for key in self._project:
            for writer in self._preds(key):
                if self._outputs_cache.pop(writer, None) is not None:
                    self.outputs(writer)

    def add_recipe_items(self, items: Iterable[dict]) -> None:
        """Types and tags from the project's recipe list items (``name``, ``type``, ``tags``), read after the graph.

        For callers that fetch the recipe list only when they need it (see :meth:`untyped_recipes`).
        """
        self._read_recipe_items(items)

    def untyped_recipes(self) -> List[str]:
        """Recipes whose type the graph payload does not give (no ``subType``, as DSS 9 answers) nor a list item."""
        nodes, known = self._nodes, self._recipe_type
        return [r for r in self._flow_recipes if r not in known and not nodes[r].get("subType")]

    def _read_recipe_items(self, items: Iterable[dict]) -> None:
        own = self._recipe_set
        recipe_type = self._recipe_type
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            if name not in own:
                continue  # the graph is the source of truth: a listed recipe it lacks is not schedulable
            listed_type = item.get("type")
            if listed_type:
                recipe_type[name] = listed_type
            tags = item.get("tags")
            if tags:  # most recipes have none: recipe_tags() answers () for them
                self._recipe_tags[name] = tuple(t for t in tags if isinstance(t, str))

    def _effective_producers(self, start: str) -> Tuple[str, ...]:
        """Own recipes feeding ``start`` (itself not an own recipe) through nodes we never run. Iterative, memoised."""
        memo = self._producers_memo
        if start in memo:
            return memo[start]
        own = self._recipe_set
        preds = self._preds
        stack = [(start, iter(preds(start)))]
        on_stack = {start}
        while stack:
            node, pending = stack[-1]
            descended = False
            for p in pending:
                if p in own or p in memo:
                    continue
                if p in on_stack:
                    names = [n for n, _ in stack]
                    loop = names[names.index(p) :]
                    loop.reverse()  # the stack walks upstream; show the loop in Flow direction
                    raise GraphError(
                        "The Flow has a cycle: {}. DSS cannot build a cyclic Flow: remove one of these links.".format(
                            " → ".join(loop + [loop[0]])
                        )
                    )
                stack.append((p, iter(preds(p))))
                on_stack.add(p)
                descended = True
                break
            if descended:
                continue
            stack.pop()
            on_stack.discard(node)
            found: List[str] = []
            for p in preds(node):
                if p in own:
                    found.append(p)
                else:
                    found.extend(memo[p])
            memo[node] = tuple(dict.fromkeys(found))
        return memo[start]

    def _sort(self) -> None:
        """The order: recipes by layer, each layer in Flow order (a stable sort of the recipes in Flow order).

        Layers not found by :meth:`_link_plain_flow` come from Kahn's algorithm by levels (each level is a layer):
        incremental like ``graphlib`` (O(V + E)) but without its per-node bookkeeping objects; ``graphlib`` names the
        cycle when one stops the sort.
        """
        if not self._layer:
            self._layer = self._kahn_layers()
        self._order = order = tuple(sorted(self._flow_recipes, key=self._layer.__getitem__))
        idle = self._without_outputs
        if idle is None:
            nodes = self._nodes
            self._runnable = tuple([r for r in order if nodes[r]["successors"]])  # recipes with at least one output
        else:
            self._runnable = tuple([r for r in order if r not in idle]) if idle else order

    def _kahn_layers(self) -> Dict[str, int]:
        up = self._up
        down = self._down
        remaining = {r: len(ups) for r, ups in up.items() if ups}
        frontier = [r for r in self._flow_recipes if not up[r]]
        layer_of = dict.fromkeys(frontier, 0)
        depth = 0
        while frontier:
            depth += 1
            ready: List[str] = []
            for r in frontier:
                for d in down[r]:
                    left = remaining[d] - 1
                    remaining[d] = left
                    if not left:
                        ready.append(d)
                        layer_of[d] = depth
            frontier = ready
        if len(layer_of) != len(self._flow_recipes):
            self._raise_cycle({r for r, left in remaining.items() if left})
        return layer_of

    def _raise_cycle(self, stuck: Set[str]) -> None:
        sorter: graphlib.TopologicalSorter = graphlib.TopologicalSorter()
        for recipe in self._flow_recipes:
            if recipe in stuck:
                sorter.add(recipe, *(u for u in self._up[recipe] if u in stuck))
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            raise GraphError(self._cycle_message(list(exc.args[1]))) from None
        raise GraphError("The Flow has a cycle among: " + ", ".join(sorted(stuck)[:20]))  # not reached: a DAG sorts

    def _cycle_message(self, cycle: List[str]) -> str:
        links = []
        for a, b in zip(cycle, cycle[1:]):
            read_by_b = set(self._preds(b))
            shared = [c for c in self._succs(a) if c in read_by_b]
            links.append(f"{b} reads {', '.join(shared)} written by {a}" if shared else f"{b} depends on {a}")
        return (
            "The Flow has a cycle: {} ({}). DSS cannot build a cyclic Flow: remove one of these dependencies.".format(
                " → ".join(cycle), "; ".join(links)
            )
        )

    def _preds(self, key: str) -> List[str]:
        return self._nodes[key]["predecessors"]

    def _succs(self, key: str) -> List[str]:
        return self._nodes[key]["successors"]

    def _type(self, key: str) -> str:
        return self._nodes[key].get("type") or ""

    # -- nodes ----------------------------------------------------------------------------------------------------

    def has_node(self, key: str) -> bool:
        return key in self._nodes

    def node_type(self, key: str) -> str:
        return self._type(key)

    def _node_positions(self) -> Dict[str, int]:
        """Payload position of every node; only some queries need it, so building a graph does not pay for it."""
        if self._node_index is None:
            self._node_index = {key: i for i, key in enumerate(self._nodes)}
        return self._node_index

    def is_recipe(self, key: str) -> bool:
        """True for a recipe of this project (a ``RUNNABLE_RECIPE`` we may run)."""
        return key in self._recipe_set

    def is_computable(self, key: str) -> bool:
        return key in self._nodes and self._type(key).startswith("COMPUTABLE")

    def is_foreign(self, key: str) -> bool:
        """True for an object of another project (shared into this Flow): never built by us."""
        return key in self._project

    def computables(self) -> List[str]:
        """Every computable node key (datasets, folders, models...), in Flow order."""
        return [k for k, node in self._nodes.items() if (node.get("type") or "").startswith("COMPUTABLE")]

    def output_ref(self, computable: str) -> OutputRef:
        """How a job names this computable."""
        node = self._nodes[computable]
        ref = node.get("ref") or computable
        node_type = node.get("type") or ""
        owner = self._project.get(computable)
        if owner is not None and ref.startswith(owner + "."):
            ref = ref[len(owner) + 1 :]
        return _new_output_ref((ref, JOB_OUTPUT_TYPES.get(node_type) or job_output_type(node_type), owner))

    # -- recipes --------------------------------------------------------------------------------------------------

    @property
    def recipes(self) -> Tuple[str, ...]:
        """Every recipe of this project, in topological order (by layer, ties by Flow order)."""
        return self._order

    @property
    def runnable_recipes(self) -> Tuple[str, ...]:
        """Recipes a job can build (they have at least one output), in topological order."""
        return self._runnable

    def is_runnable(self, recipe: str) -> bool:
        return recipe in self._recipe_set and bool(self._succs(recipe))

    def recipe_type(self, recipe: str) -> str:
        """The recipe type (``python``, ``join``...) from the recipe list, else the node's ``subType``, else ""."""
        known = self._recipe_type.get(recipe)
        if known is None:
            known = (self._nodes[recipe].get("subType") or "") if recipe in self._recipe_set else ""
        return known

    def recipe_types_of(self, recipes: Iterable[str]) -> List[str]:
        """``[recipe_type(r) for r in recipes]`` in one C-level pass when every type came from the recipe list."""
        recipes = list(recipes)
        try:
            return list(map(self._recipe_type.__getitem__, recipes))
        except KeyError:  # a recipe the list did not name: the node's subType
            return list(map(self.recipe_type, recipes))

    def recipe_tags(self, recipe: str) -> Tuple[str, ...]:
        return self._recipe_tags.get(recipe, ())

    def all_tags(self) -> List[str]:
        return sorted({t for tags in self._recipe_tags.values() for t in tags})

    def outputs(self, recipe: str) -> Tuple[OutputRef, ...]:
        """Every output of the recipe as job outputs: datasets first, then folders, models..., each in Flow order."""
        cached = self._outputs_cache.get(recipe)
        if cached is None:
            cached = self._outputs_cache[recipe] = tuple(map(self.output_ref, self.output_keys(recipe)))
        return cached

    def outputs_of(self, recipes: Iterable[str]) -> List[Tuple[OutputRef, ...]]:
        """``[outputs(r) for r in recipes]``: what a plan asks for, made when the graph was built."""
        try:
            return list(map(self._outputs_cache.__getitem__, recipes))
        except KeyError:  # a recipe without outputs, or a key that is not a recipe
            return list(map(self.outputs, recipes))

    def output_keys(self, recipe: str) -> Tuple[str, ...]:
        """Node keys of the recipe's outputs, datasets first."""
        succs = self._succs(recipe)
        if len(succs) == 1:
            return (succs[0],)
        types = list(map(self._type, succs))
        if "COMPUTABLE_DATASET" not in types or all(t == "COMPUTABLE_DATASET" for t in types):
            return tuple(succs)
        datasets = [k for k, t in zip(succs, types) if t == "COMPUTABLE_DATASET"]
        return tuple(datasets + [k for k, t in zip(succs, types) if t != "COMPUTABLE_DATASET"])

    def inputs(self, recipe: str) -> Tuple[str, ...]:
        """Node keys of the recipe's inputs (``OTHER.name`` for foreign ones)."""
        return tuple(self._preds(recipe))

    def inputs_of(self, recipes: Iterable[str]) -> List[Tuple[str, ...]]:
        """``[inputs(r) for r in recipes]`` without a Python frame per recipe (plans list every recipe's inputs)."""
        recipes = list(recipes)
        try:
            return list(map(self._inputs.__getitem__, recipes))
        except KeyError:  # made by the general path, or not a recipe
            return list(map(tuple, map(_PREDECESSORS, map(self._nodes.__getitem__, recipes))))

    def producer(self, computable: str) -> Optional[str]:
        """The recipe of this project that writes the computable, or None (source, foreign, implicit recipe)."""
        node = self._nodes.get(computable)
        for p in node["predecessors"] if node is not None else _EMPTY:
            if p in self._recipe_set:
                return p
        return None

    def producers(self, computable: str) -> Tuple[str, ...]:
        """Recipes of this project the computable depends on directly, looking through implicit recipes."""
        if computable in self._recipe_set:
            return (computable,)
        return self._effective_producers(computable)

    def readers(self, computable: str) -> Tuple[str, ...]:
        """Recipes of this project that read the computable, looking through implicit recipes and foreign objects."""
        found: Dict[str, None] = {}
        seen = {computable}
        node = self._nodes.get(computable)
        queue = deque(node["successors"] if node is not None else _EMPTY)
        while queue:
            key = queue.popleft()
            if key in seen:
                continue
            seen.add(key)
            if key in self._recipe_set:
                found[key] = None
            else:
                queue.extend(self._succs(key))
        return tuple(sorted(found, key=self._positions().__getitem__))

    def upstream(self, recipe: str) -> Tuple[str, ...]:
        """Recipes whose outputs this recipe reads (direct dependencies)."""
        return self._up[recipe]

    def downstream(self, recipe: str) -> Tuple[str, ...]:
        """Recipes that read this recipe's outputs (direct dependents), in Flow order."""
        return tuple(self._down[recipe])

    @property
    def upstream_map(self) -> Mapping[str, Tuple[str, ...]]:
        return self._up

    @property
    def downstream_map(self) -> Mapping[str, Sequence[str]]:
        return self._down

    def upstream_closure(self, recipes: Iterable[str], depth: Optional[int] = None) -> Set[str]:
        """Recipes upstream of any of ``recipes`` (within ``depth`` steps); a start is included only if upstream of
        another start."""
        return _bfs(recipes, self._up, depth)

    def downstream_closure(self, recipes: Iterable[str], depth: Optional[int] = None) -> Set[str]:
        """Recipes downstream of any of ``recipes`` (within ``depth`` steps)."""
        return _bfs(recipes, self._down, depth)

    def topological_index(self, recipe: str) -> int:
        return self._positions()[recipe]

    def _positions(self) -> Dict[str, int]:
        if self._pos is None:
            self._pos = {r: i for i, r in enumerate(self._order)}
        return self._pos

    def in_topological_order(self, recipes: Iterable[str]) -> List[str]:
        wanted = set(recipes)
        if len(wanted) * 8 >= len(self._order):
            # A large share of the Flow (a whole-Flow plan): filtering the order is linear, sorting is not.
            found = list(filter(wanted.__contains__, self._order))
            if len(found) == len(wanted):
                return found
        return sorted(wanted, key=self._positions().__getitem__)

    @property
    def layer_map(self) -> Mapping[str, int]:
        """Layer of every recipe (read-only view for plans, which must not copy it per recipe)."""
        return self._layer

    def layers(self) -> List[List[str]]:
        """Recipes grouped by layer (each in Flow order): layer k only depends on layers < k."""
        layers: List[List[str]] = []
        for recipe in self._order:  # by layer, then Flow order
            depth = self._layer[recipe]
            if depth == len(layers):
                layers.append([])
            layers[depth].append(recipe)
        return layers

    def bottom_levels(self, durations: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
        """Longest remaining path of expected durations (default 1 s each) from each recipe to a sink."""
        return bottom_levels_of(self._order, self._down, durations)

    def critical_path(self, durations: Optional[Mapping[str, float]] = None) -> Tuple[Tuple[str, ...], float]:
        """The longest chain of recipes by expected durations and its length in seconds."""
        return critical_path_of(self._order, self._down, self.bottom_levels(durations))

    def downstream_computables(self, computable: str) -> List[str]:
        """Computables downstream of ``computable`` (itself excluded), in topological order of the node graph.

        These are the datasets a schema change of ``computable`` may reach.
        """
        if computable not in self._nodes:
            raise GraphError(f"{computable!r} is not in the Flow graph.")
        succs = self._succs
        reached: Set[str] = set()
        frontier = [computable]
        while frontier:
            nxt = []
            for name in frontier:
                for other in succs(name):
                    if other not in reached:
                        reached.add(other)
                        nxt.append(other)
            frontier = nxt
        reached.discard(computable)
        indegree = {n: 0 for n in reached}
        for n in reached:
            for s in succs(n):
                if s in indegree:
                    indegree[s] += 1
        index = self._node_positions()
        ready = [(index[n], n) for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        out: List[str] = []
        emitted = 0
        while ready:
            _, node = heapq.heappop(ready)
            emitted += 1
            if self._type(node).startswith("COMPUTABLE"):
                out.append(node)
            for s in succs(node):
                if s in indegree:
                    indegree[s] -= 1
                    if indegree[s] == 0:
                        heapq.heappush(ready, (index[s], s))
        if emitted != len(indegree):
            stuck = sorted((n for n, d in indegree.items() if d > 0), key=index.__getitem__)
            raise GraphError(f"The Flow has a cycle downstream of {computable!r} through: {', '.join(stuck[:10])}.")
        return out

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        return f"FlowGraph(project_key={self.project_key!r}, recipes={len(self._order)}, nodes={len(self._nodes)})"


class _PlainLinks(NamedTuple):
    """What the one pass of :func:`_plain_links` finds in a plain Flow (recipes in payload order)."""

    recipes: List[str]
    up: Dict[str, Tuple[str, ...]]
    down: Dict[str, List[str]]
    layer: Dict[str, int]  # empty when a recipe is listed before one of its upstream recipes (or in a cycle)
    dotted: List[str]  # node keys with a dot: maybe objects of other projects
    outputs: Dict[str, Tuple[OutputRef, ...]]  # the job outputs of the recipes with one output
    several: List[Tuple[str, List[str]]]  # the recipes with several outputs, and their keys
    without_outputs: Set[str]
    inputs: Dict[str, Tuple[str, ...]]  # each recipe's inputs, as a plan lists them


def _plain_links(nodes: Mapping[str, dict]) -> Optional[_PlainLinks]:
    """One pass over the nodes for :meth:`FlowGraph._link_plain_flow` (what costs is fetching each node from memory;
    no Python frame per recipe); None if the Flow is not plain. A recipe's inputs are not checked not to be recipes:
    such an input lists the reader among its outputs (checked from the far end), and outputs are checked (here, or by
    :func:`_plain_outputs`). A node of the wrong shape met as a neighbour before its own turn may give a wrong answer
    or an error on the way, never a result: its turn comes before the pass ends."""
    recipes: List[str] = []
    dotted: List[str] = []
    input_tuples: Dict[str, Tuple[str, ...]] = {}
    up: Dict[str, Tuple[str, ...]] = {}
    down: Dict[str, List[str]] = {}
    layer: Dict[str, int] = {}
    layer_get = layer.get
    not_yet = len(nodes)  # above any layer: marks an upstream recipe listed later
    outputs: Dict[str, Tuple[OutputRef, ...]] = {}
    new_tuple = tuple.__new__  # OutputRef(...) without the generated __new__'s Python frame
    several: List[Tuple[str, List[str]]] = []
    without_outputs: Set[str] = set()
    listed_later = False
    recipe_links = other_links = 0  # links listed at recipes, and at other nodes
    try:
        for key, node in nodes.items():
            if type(node) is not dict:
                return None
            inputs = node["predecessors"]
            outs = node["successors"]
            if type(inputs) is not list or type(outs) is not list:
                return None
            if "." in key:
                dotted.append(key)
            if node.get("type") != RECIPE_NODE:
                other_links += len(inputs) + len(outs)
                continue
            recipes.append(key)
            down[key] = []
            recipe_links += len(inputs) + len(outs)
            input_tuples[key] = tuple(inputs)
            if len(inputs) == 1:  # the usual case, without the list below
                source = nodes[inputs[0]]
                if key not in source["successors"]:
                    return None
                up[key] = ups = tuple(source["predecessors"])
            elif len(inputs) == 2 and inputs[0] != inputs[1]:  # the next most usual, without a loop
                first = nodes[inputs[0]]
                second = nodes[inputs[1]]
                if key not in first["successors"] or key not in second["successors"]:
                    return None
                found = first["predecessors"] + second["predecessors"]
                if len(found) == 2 and found[0] != found[1]:
                    up[key] = ups = tuple(found)
                else:
                    up[key] = ups = tuple(dict.fromkeys(found))
            else:
                found = []
                for name in inputs:
                    source = nodes[name]
                    if key not in source["successors"]:
                        return None
                    found += source["predecessors"]
                if len(set(inputs)) != len(inputs):
                    return None
                up[key] = ups = tuple(dict.fromkeys(found)) if len(found) > 1 else tuple(found)
            if len(outs) == 1:
                target = nodes[outs[0]]
                if key not in target["predecessors"]:
                    return None
                node_type = target.get("type") or ""
                if node_type == "COMPUTABLE_DATASET":  # the usual case, without hashing the type
                    job_type = "DATASET"
                elif node_type == RECIPE_NODE:
                    return None
                else:
                    job_type = JOB_OUTPUT_TYPES.get(node_type) or job_output_type(node_type)
                outputs[key] = (new_tuple(OutputRef, (target.get("ref") or outs[0], job_type, None)),)
            elif outs:
                several.append((key, outs))  # checked by _plain_outputs
            else:
                without_outputs.add(key)
            top = -1
            for u in ups:
                try:
                    down[u].append(key)
                except KeyError:  # listed later (down is then made again below), or not a recipe
                    listed_later = True
                depth = layer_get(u, not_yet)
                if depth > top:
                    top = depth
            layer[key] = top + 1
    except (KeyError, TypeError, AttributeError):  # a dangling link, or a neighbour of the wrong shape
        return None
    if other_links != recipe_links:  # a listing at another node that is no far end of one at a recipe
        return None
    if layer and max(layer.values()) >= not_yet:
        layer = {}  # Kahn's algorithm finds the layers, or the cycle
        if listed_later:
            down = _readers_in_payload_order(recipes, up)
            if down is None:
                return None
    return _PlainLinks(recipes, up, down, layer, dotted, outputs, several, without_outputs, input_tuples)


def _readers_in_payload_order(recipes: List[str], up: Mapping[str, Tuple[str, ...]]) -> Optional[Dict[str, List[str]]]:
    """The readers of each recipe, in payload order; None if an upstream is not a recipe."""
    down: Dict[str, List[str]] = {r: [] for r in recipes}
    try:
        for recipe in recipes:
            for u in up[recipe]:
                down[u].append(recipe)
    except KeyError:
        return None
    return down


def _plain_job_outputs(links: _PlainLinks, nodes: Mapping[str, dict]) -> Optional[Dict[str, Tuple[OutputRef, ...]]]:
    """Each recipe's job outputs, datasets first (none for a recipe without outputs); None if one is a recipe."""
    outputs = links.outputs
    for recipe, outs in links.several:
        refs = _plain_outputs(recipe, outs, nodes)
        if refs is None:
            return None
        outputs[recipe] = refs
    return outputs


def _plain_outputs(recipe: str, outs: List[str], nodes: Mapping[str, dict]) -> Optional[Tuple[OutputRef, ...]]:
    """The job outputs of a recipe with several outputs, datasets first; None if a link is not plain."""
    refs = []
    later = None  # outputs that are not datasets: listed after the datasets
    for key in outs:
        target = nodes[key]
        node_type = target.get("type") or ""
        if recipe not in target["predecessors"] or node_type == RECIPE_NODE:
            return None
        ref = _new_output_ref(
            (target.get("ref") or key, JOB_OUTPUT_TYPES.get(node_type) or job_output_type(node_type), None)
        )
        if node_type == "COMPUTABLE_DATASET":
            refs.append(ref)
        elif later is None:
            later = [ref]
        else:
            later.append(ref)
    if len(set(outs)) != len(outs):
        return None
    return tuple(refs + later) if later else tuple(refs)


def _new_output_ref(fields: Tuple[str, str, Optional[str]]) -> OutputRef:
    """``OutputRef(*fields)`` without the generated ``__new__``'s Python frame (one per output of a large plan)."""
    return tuple.__new__(OutputRef, fields)


def _is_regular(nodes: Dict[str, dict]) -> bool:
    """True when the payload is *regular*, so that the graph can read its link lists in place.

    Regular: every node is an object with ``predecessors`` and ``successors`` lists, and every link is listed exactly
    once on each of its two ends (so none names a missing node), as DSS answers. Checked from the successor side:
    each link is found among its target's predecessors, no successor is listed twice, and as many links on each side
    leave no room for another predecessor.
    """
    pred_links = succ_links = 0
    try:
        for key, node in nodes.items():
            p = node["predecessors"]
            s = node["successors"]
            if type(p) is not list or type(s) is not list or type(node) is not dict:
                return False
            pred_links += len(p)
            if s:
                succ_links += len(s)
                for other in s:
                    if key not in nodes[other]["predecessors"]:
                        return False
                if len(s) > 1 and len(set(s)) != len(s):
                    return False
    except (KeyError, TypeError):  # a missing node or list, or a node that is not an object
        return False
    return pred_links == succ_links


def _regular_copy(nodes: Dict[str, dict]) -> Dict[str, dict]:
    """A regular copy of an irregular ``nodes`` map (see :func:`_is_regular`), or the GraphError naming the first
    problem.

    Missing or null link lists become empty; a link listed on one end only is added to the other; a link listed twice
    is kept once. The payload itself is not modified.
    """
    empty: List[str] = []
    preds: Dict[str, List[str]] = {}
    succs: Dict[str, List[str]] = {}
    for key, node in nodes.items():
        if type(node) is not dict:
            raise GraphError(f"Flow graph node {key!r} is not an object (got {type(node).__name__}).")
        p = node.get("predecessors") or empty
        s = node.get("successors") or empty
        if type(p) is not list or type(s) is not list:
            raise GraphError(f"Flow graph node {key!r} has 'predecessors'/'successors' that are not lists.")
        preds[key] = p
        succs[key] = s
    for key, s in succs.items():
        for other in s:
            if other not in preds:
                raise GraphError(_dangling(key, "successors", other))
    for key, p in preds.items():
        for other in p:
            if other not in preds:
                raise GraphError(_dangling(key, "predecessors", other))
    merged_preds: Dict[str, List[str]] = {k: list(v) for k, v in preds.items()}
    merged_succs: Dict[str, List[str]] = {k: list(v) for k, v in succs.items()}
    for key, s in succs.items():
        for other in s:
            merged_preds[other].append(key)
    for key, p in preds.items():
        for other in p:
            merged_succs[other].append(key)
    return {
        key: dict(
            node, predecessors=list(dict.fromkeys(merged_preds[key])), successors=list(dict.fromkeys(merged_succs[key]))
        )
        for key, node in nodes.items()
    }


def _owner_project(key: str, node: dict, project_key: Optional[str], node_type: str) -> Optional[str]:
    """Project key of a foreign node, None for nodes of this project (and for implicit recipes, never foreign)."""
    if node_type.startswith("RUNNABLE") and node_type != RECIPE_NODE:
        return None
    full_id = node.get("fullId")
    if project_key and isinstance(full_id, str) and "." in full_id:
        owner = full_id.split(".", 1)[0]
        return None if owner == project_key else owner
    ref = node.get("ref") or key
    if "." in ref:
        return ref.split(".", 1)[0]
    return None


def _dangling(key: str, field: str, missing: str) -> str:
    return (
        f"The Flow graph is inconsistent: node {key!r} lists {missing!r} in its {field}, but there is no node "
        f"{missing!r}. Reload the Flow (it may have changed during the call) or fix the payload."
    )
