"""FlowGraph: a project's Flow as recipes and the computables they read and write, built from one API call.

Built from one ``GET /projects/{pk}/flow/graph/`` payload (plus, optionally, the recipe list for types and tags)
instead of ``dataikuapi``'s traversal helpers, which recurse (RecursionError on ~600-deep chains) and rescan the
node list (quadratic). Every walk here is iterative and every build step is O(V + E).

Vocabulary: a *node* is any key of the payload's ``nodes`` map; a *recipe* is a ``RUNNABLE_RECIPE`` of this project
(the only thing we run); a *computable* is a dataset, folder, saved model... Implicit recipes, labeling tasks and
objects of other projects are never run by us: dependencies pass through them.
"""

from __future__ import annotations

import contextlib
import gc
import graphlib
import heapq
import itertools
from collections import deque
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from .errors import GraphError
from .port import OutputRef

RECIPE_NODE = "RUNNABLE_RECIPE"
IMPLICIT_RECIPE_NODE = "RUNNABLE_IMPLICIT_RECIPE"

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


def job_output_type(node_type: str) -> str:
    """Job output type for a computable node type; unknown ``COMPUTABLE_X`` types map to ``X``."""
    known = JOB_OUTPUT_TYPES.get(node_type)
    if known is not None:
        return known
    return node_type[len("COMPUTABLE_"):] if node_type.startswith("COMPUTABLE_") else node_type


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
    durations = durations or {}
    level: Dict[str, float] = {}
    for name in reversed(order):
        given = durations.get(name)
        downs = downstream.get(name)
        longest = max(map(level.__getitem__, downs)) if downs else 0.0
        level[name] = (float(given) if given is not None and given >= 0 else default_s) + longest
    return level


def critical_path_of(
    order: Sequence[str], downstream: Mapping[str, Sequence[str]], bottom_levels: Mapping[str, float]
) -> Tuple[Tuple[str, ...], float]:
    """The longest expected-duration path (names from source to sink) and its length; ties go to earlier nodes."""
    if not order:
        return (), 0.0
    start = order[0]
    for name in order:
        if bottom_levels[name] > bottom_levels[start]:
            start = name
    path = [start]
    current = start
    while True:
        downs = downstream.get(current, _EMPTY)
        if not downs:
            break
        best = downs[0]
        for d in downs:
            if bottom_levels[d] > bottom_levels[best]:
                best = d
        path.append(best)
        current = best
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
        self._nodes: Dict[str, dict] = {}  # the payload's node objects (read lazily for subType)
        self._refs: Dict[str, str] = {}  # a node's "ref" when it is not its key (foreign objects...)
        self._node_index: Optional[Dict[str, int]] = None  # payload position of each node, built when first needed
        self._type: Dict[str, str] = {}
        self._project: Dict[str, str] = {}  # owning project of foreign nodes only
        self._preds: Dict[str, List[str]] = {}
        self._succs: Dict[str, List[str]] = {}
        self._flow_recipes: List[str] = []  # recipes of this project in payload order
        self._recipe_set: Set[str] = set()
        self._recipe_type: Dict[str, str] = {}
        self._recipe_tags: Dict[str, Tuple[str, ...]] = {}
        self._up: Dict[str, Tuple[str, ...]] = {}
        self._down: Dict[str, List[str]] = {}
        self._order: Tuple[str, ...] = ()
        self._runnable: Tuple[str, ...] = ()
        self._pos: Optional[Dict[str, int]] = None  # topological index of each recipe, built when first needed
        self._layer: Dict[str, int] = {}
        self._layers: List[List[str]] = []
        self._outputs_cache: Dict[str, Tuple[OutputRef, ...]] = {}
        self._producers_memo: Dict[str, Tuple[str, ...]] = {}

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
        graph = cls()
        graph.project_key = project_key
        with gc_paused():
            graph._read_nodes(graph_payload)
            graph._read_recipe_items(recipes or ())
            graph._link_recipes()
            graph._sort()
        return graph

    def _read_nodes(self, payload: dict) -> None:
        nodes = payload.get("nodes") if isinstance(payload, dict) else None
        if not isinstance(nodes, dict):
            raise GraphError(
                "The Flow graph payload has no 'nodes' map: pass the JSON answer of GET /projects/{key}/flow/graph/."
            )
        self._nodes = nodes
        types = self._type
        preds = self._preds
        succs = self._succs
        flow_recipes = self._flow_recipes
        foreign = self._project
        refs = self._refs
        project_key = self.project_key
        empty: List[str] = []
        # One tight pass: this loop and the edge check below are most of the cost of building a graph.
        for key, node in nodes.items():
            if type(node) is not dict:
                raise GraphError(f"Flow graph node {key!r} is not an object (got {type(node).__name__}).")
            node_type = node.get("type") or ""
            p = node.get("predecessors") or empty
            s = node.get("successors") or empty
            if type(p) is not list or type(s) is not list:
                raise GraphError(f"Flow graph node {key!r} has 'predecessors'/'successors' that are not lists.")
            types[key] = node_type
            preds[key] = p
            succs[key] = s
            ref = node.get("ref")
            if ref and ref != key:  # rare: most refs are their key; read now while the node is at hand
                refs[key] = ref
            if "." in key:
                owner = _owner_project(key, node, project_key, node_type)
                if owner is not None:
                    foreign[key] = owner
                    continue
            if node_type == RECIPE_NODE:
                flow_recipes.append(key)
        self._recipe_set = set(flow_recipes)
        self._check_edges()

    def _check_edges(self) -> None:
        """Report dangling keys; read edges from both ends when the two lists disagree (DSS lists each twice)."""
        preds = self._preds
        succs = self._succs
        if _ends_agree(preds, succs):
            return
        for key, s in succs.items():
            for other in s:
                if other not in preds:
                    raise GraphError(_dangling(key, "successors", other))
        missing = set(itertools.chain.from_iterable(preds.values())).difference(preds)  # at C speed
        if missing:
            for key, p in preds.items():
                for other in p:
                    if other in missing:
                        raise GraphError(_dangling(key, "predecessors", other))
        merged_preds: Dict[str, List[str]] = {k: list(v) for k, v in preds.items()}
        merged_succs: Dict[str, List[str]] = {k: list(v) for k, v in succs.items()}
        for key, s in succs.items():
            for other in s:
                merged_preds[other].append(key)
        for key, p in preds.items():
            for other in p:
                merged_succs[other].append(key)
        self._preds = {k: list(dict.fromkeys(v)) for k, v in merged_preds.items()}
        self._succs = {k: list(dict.fromkeys(v)) for k, v in merged_succs.items()}

    def _read_recipe_items(self, items: Iterable[dict]) -> None:
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            if name not in self._recipe_set:
                continue  # the graph is the source of truth: a listed recipe it lacks is not schedulable
            recipe_type = item.get("type")
            if recipe_type:
                self._recipe_type[name] = recipe_type
            tags = item.get("tags")
            if tags:  # most recipes have none: recipe_tags() answers () for them
                self._recipe_tags[name] = tuple(t for t in tags if isinstance(t, str))

    def _link_recipes(self) -> None:
        """Recipe-level upstream: the recipes producing each input, through implicit recipes and foreign objects."""
        own = self._recipe_set
        preds = self._preds
        up = self._up
        down: Dict[str, List[str]] = {r: [] for r in self._flow_recipes}
        for recipe in self._flow_recipes:
            found: List[str] = []
            for computable in preds[recipe]:
                if computable in own:
                    found.append(computable)
                    continue
                for producer in preds[computable]:
                    if producer in own:
                        found.append(producer)
                    else:
                        found.extend(self._effective_producers(producer))
            if len(found) > 1:
                found = list(dict.fromkeys(found))
            up[recipe] = tuple(found)
            for u in found:
                down[u].append(recipe)
        self._down = down

    def _effective_producers(self, start: str) -> Tuple[str, ...]:
        """Own recipes feeding ``start`` (itself not an own recipe) through nodes we never run. Iterative, memoised."""
        memo = self._producers_memo
        if start in memo:
            return memo[start]
        own = self._recipe_set
        preds = self._preds
        stack = [(start, iter(preds[start]))]
        on_stack = {start}
        while stack:
            node, pending = stack[-1]
            descended = False
            for p in pending:
                if p in own or p in memo:
                    continue
                if p in on_stack:
                    names = [n for n, _ in stack]
                    loop = names[names.index(p):]
                    loop.reverse()  # the stack walks upstream; show the loop in Flow direction
                    raise GraphError(
                        "The Flow has a cycle: {}. DSS cannot build a cyclic Flow: remove one of these links.".format(
                            " → ".join(loop + [loop[0]])
                        )
                    )
                stack.append((p, iter(preds[p])))
                on_stack.add(p)
                descended = True
                break
            if descended:
                continue
            stack.pop()
            on_stack.discard(node)
            found: List[str] = []
            for p in preds[node]:
                if p in own:
                    found.append(p)
                else:
                    found.extend(memo[p])
            memo[node] = tuple(dict.fromkeys(found))
        return memo[start]

    def _sort(self) -> None:
        """Kahn's algorithm by levels: each level is a layer, kept in Flow order; the layers concatenated are the order.

        Incremental like ``graphlib`` (O(V + E)) but without its per-node bookkeeping objects; ``graphlib`` names the
        cycle when one stops the sort. Layers are filled by one pass over the recipes in Flow order afterwards, which
        keeps each in Flow order without sorting.
        """
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
        layers: List[List[str]] = [[] for _ in range(depth)]
        for r in self._flow_recipes:
            layers[layer_of[r]].append(r)
        order = tuple(itertools.chain.from_iterable(layers))
        self._order = order
        self._layers = layers
        self._layer = layer_of
        self._runnable = tuple(filter(self._succs.__getitem__, order))  # recipes with at least one output

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
            read_by_b = set(self._preds[b])
            shared = [c for c in self._succs[a] if c in read_by_b]
            links.append(f"{b} reads {', '.join(shared)} written by {a}" if shared else f"{b} depends on {a}")
        return (
            "The Flow has a cycle: {} ({}). DSS cannot build a cyclic Flow: remove one of these dependencies.".format(
                " → ".join(cycle), "; ".join(links)
            )
        )

    # -- nodes ----------------------------------------------------------------------------------------------------

    def has_node(self, key: str) -> bool:
        return key in self._type

    def node_type(self, key: str) -> str:
        return self._type[key]

    def node_keys(self) -> List[str]:
        """Every node key, in payload (Flow) order."""
        return list(self._type)

    def _node_positions(self) -> Dict[str, int]:
        """Payload position of every node; only some queries need it, so building a graph does not pay for it."""
        if self._node_index is None:
            self._node_index = {key: i for i, key in enumerate(self._type)}
        return self._node_index

    def is_recipe(self, key: str) -> bool:
        """True for a recipe of this project (a ``RUNNABLE_RECIPE`` we may run)."""
        return key in self._recipe_set

    def is_computable(self, key: str) -> bool:
        return self._type.get(key, "").startswith("COMPUTABLE")

    def is_foreign(self, key: str) -> bool:
        """True for an object of another project (shared into this Flow): never built by us."""
        return key in self._project

    def computables(self) -> List[str]:
        """Every computable node key (datasets, folders, models...), in Flow order."""
        return [k for k, node_type in self._type.items() if node_type.startswith("COMPUTABLE")]

    def output_ref(self, computable: str) -> OutputRef:
        """How a job names this computable."""
        ref = self._refs.get(computable, computable)
        node_type = self._type[computable]
        owner = self._project.get(computable)
        if owner is not None and ref.startswith(owner + "."):
            ref = ref[len(owner) + 1:]
        return OutputRef(ref, JOB_OUTPUT_TYPES.get(node_type) or job_output_type(node_type), owner)

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
        return recipe in self._recipe_set and bool(self._succs[recipe])

    def recipe_type(self, recipe: str) -> str:
        """The recipe type (``python``, ``join``...) from the recipe list, else the node's ``subType``, else ""."""
        known = self._recipe_type.get(recipe)
        if known is None:
            known = (self._nodes[recipe].get("subType") or "") if recipe in self._recipe_set else ""
        return known

    def recipe_tags(self, recipe: str) -> Tuple[str, ...]:
        return self._recipe_tags.get(recipe, ())

    def all_tags(self) -> List[str]:
        return sorted({t for tags in self._recipe_tags.values() for t in tags})

    def outputs(self, recipe: str) -> Tuple[OutputRef, ...]:
        """Every output of the recipe as job outputs: datasets first, then folders, models..., each in Flow order."""
        cached = self._outputs_cache.get(recipe)
        if cached is None:
            succs = self._succs[recipe]
            if len(succs) == 1:
                cached = (self.output_ref(succs[0]),)
            else:
                cached = tuple(map(self.output_ref, self.output_keys(recipe)))
            self._outputs_cache[recipe] = cached
        return cached

    def output_keys(self, recipe: str) -> Tuple[str, ...]:
        """Node keys of the recipe's outputs, datasets first."""
        succs = self._succs[recipe]
        types = self._type
        if len(succs) == 1:
            return (succs[0],)
        datasets = [k for k in succs if types[k] == "COMPUTABLE_DATASET"]
        if len(datasets) == len(succs):
            return tuple(succs)
        return tuple(datasets + [k for k in succs if types[k] != "COMPUTABLE_DATASET"])

    def inputs(self, recipe: str) -> Tuple[str, ...]:
        """Node keys of the recipe's inputs (``OTHER.name`` for foreign ones)."""
        return tuple(self._preds[recipe])

    def producer(self, computable: str) -> Optional[str]:
        """The recipe of this project that writes the computable, or None (source, foreign, implicit recipe)."""
        for p in self._preds.get(computable, _EMPTY):
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
        queue = deque(self._succs.get(computable, _EMPTY))
        while queue:
            node = queue.popleft()
            if node in seen:
                continue
            seen.add(node)
            if node in self._recipe_set:
                found[node] = None
            else:
                queue.extend(self._succs[node])
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
            found = [r for r in self._order if r in wanted]
            if len(found) == len(wanted):
                return found
        return sorted(wanted, key=self._positions().__getitem__)

    def layer(self, recipe: str) -> int:
        return self._layer[recipe]

    @property
    def layer_map(self) -> Mapping[str, int]:
        """Layer of every recipe (read-only view for plans, which must not copy it per recipe)."""
        return self._layer

    def layers(self) -> List[List[str]]:
        """Recipes grouped by layer (each in Flow order): layer k only depends on layers < k."""
        return [list(layer) for layer in self._layers]

    def bottom_levels(self, durations: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
        """Longest remaining path of expected durations (default 1 s each) from each recipe to a sink."""
        return bottom_levels_of(self._order, self._down, durations)

    def critical_path(self, durations: Optional[Mapping[str, float]] = None) -> Tuple[Tuple[str, ...], float]:
        """The longest chain of recipes by expected durations and its length in seconds."""
        return critical_path_of(self._order, self._down, self.bottom_levels(durations))

    def source_recipes(self) -> List[str]:
        return [r for r in self._order if not self._up[r]]

    def sink_recipes(self) -> List[str]:
        return [r for r in self._order if not self._down[r]]

    def source_computables(self) -> List[str]:
        """Computables nothing writes (raw inputs of the Flow, foreign datasets...)."""
        return [k for k in self.computables() if not self._preds[k]]

    def sink_computables(self) -> List[str]:
        return [k for k in self.computables() if not self._succs[k]]

    def downstream_computables(self, computable: str) -> List[str]:
        """Computables downstream of ``computable`` (itself excluded), in topological order of the node graph.

        These are the datasets a schema change of ``computable`` may reach.
        """
        if computable not in self._type:
            raise GraphError(f"{computable!r} is not in the Flow graph.")
        reached = _bfs([computable], self._succs, None)
        reached.discard(computable)
        indegree = {n: 0 for n in reached}
        for n in reached:
            for s in self._succs[n]:
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
            if self._type[node].startswith("COMPUTABLE"):
                out.append(node)
            for s in self._succs[node]:
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
        return f"FlowGraph(project_key={self.project_key!r}, recipes={len(self._order)}, nodes={len(self._type)})"


def _ends_agree(preds: Dict[str, List[str]], succs: Dict[str, List[str]]) -> bool:
    """True when the predecessor and successor lists hold exactly the same links (then none names a missing node).

    Checked from the successor side only: each link found among its target's predecessors, no successor listed twice,
    and as many links on each side leave no room for another predecessor (a dangling one included). This is the usual
    case, with as little work per link as possible; the caller finds and reports any problem on a slow path.
    """
    try:
        for key, s in succs.items():
            for other in s:
                if key not in preds[other]:
                    return False
            if len(s) > 1 and len(set(s)) != len(s):
                return False
    except KeyError:  # a successor that is not a node
        return False
    return sum(map(len, preds.values())) == sum(map(len, succs.values()))


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
