"""Grouped jobs: which recipes of a plan DSS can run as one job, because they can only run one after another.

A chain ``r1 -> r2 -> ...`` links a recipe to the next when the next one's only upstream in the plan is the previous
one, it reads an output of the previous one directly, it is the only recipe of the plan downstream of the previous one
(so nothing else waits for the middle of the chain), and both build their outputs the same way (partitioned by the
run's spec, or whole). DSS runs such a chain in one "Build only this" job with every output listed, in dependency
order, paying its per-job start-up once instead of once per recipe; recipes that branch or merge stay jobs of their own
so that independent branches still run in parallel under the cap.

Pure: recipes are any objects with ``name``, ``outputs`` (``OutputRef``), ``inputs`` and ``upstream``, in a topological
order (a :class:`~flow_orchestrator.plan.BuildPlan`'s ``recipes``).
"""

from __future__ import annotations

from typing import Collection, Dict, List, Mapping, Optional, Sequence, Tuple

#: The strategy these groups serve (``RunOptions.strategy``).
GROUPED = "grouped"


def job_groups(
    recipes: Sequence,
    *,
    partitioned: Collection[str] = (),
    project_key: Optional[str] = None,
    ordered: bool = False,
) -> List[Tuple[str, ...]]:
    """The plan's recipes split into job groups, each a chain in dependency order, groups in plan order.

    :param partitioned: ids of the run project's outputs built by partition (the others are built whole): a chain
        never mixes the two
    :param ordered: the plan follows the user's ordered list: only recipes next to each other in it are chained
    """
    position = {r.name: i for i, r in enumerate(recipes)}
    downstream: Dict[str, List[str]] = {r.name: [] for r in recipes}
    for recipe in recipes:
        for up in dict.fromkeys(recipe.upstream):
            if up in downstream:
                downstream[up].append(recipe.name)
    by_name = {r.name: r for r in recipes}
    # how each recipe builds its outputs, once each (and not at all when nothing is built by partition)
    parts = {r.name: _partitioning(r, partitioned, project_key) for r in recipes} if partitioned else None
    group_of: Dict[str, int] = {}
    groups: List[List[str]] = []
    for recipe in recipes:
        previous = _chained_after(recipe, by_name, downstream, position, parts, project_key, ordered)
        if previous is not None and previous in group_of:
            group_of[recipe.name] = group_of[previous]
            groups[group_of[previous]].append(recipe.name)
        else:
            group_of[recipe.name] = len(groups)
            groups.append([recipe.name])
    return [tuple(group) for group in groups]


def _chained_after(recipe, by_name, downstream, position, parts, project_key, ordered) -> Optional[str]:
    """The recipe ``recipe`` continues the chain of, or None when it starts a job group of its own (``parts``: each
    recipe's :func:`_partitioning`, None when no output is built by partition)."""
    ups = tuple(dict.fromkeys(u for u in recipe.upstream if u in by_name))
    if len(ups) != 1:
        return None
    previous = by_name[ups[0]]
    if downstream[previous.name] != [recipe.name] or not previous.outputs or not recipe.outputs:
        return None
    if ordered and position[recipe.name] != position[previous.name] + 1:
        return None
    if not _reads_directly(recipe, previous, project_key):
        return None
    if parts is not None and parts[previous.name] != parts[recipe.name]:
        return None
    return previous.name


def _reads_directly(recipe, previous, project_key: Optional[str]) -> bool:
    """The recipe reads an output of ``previous`` itself (not through a recipe left out of the plan): only then does
    DSS order the two inside one job."""
    keys = set()
    for output in previous.outputs:
        keys.add(output.id)
        if output.project_key and output.project_key != project_key:
            keys.add(f"{output.project_key}.{output.id}")
    return any(key in keys for key in recipe.inputs)


def _partitioning(recipe, partitioned: Collection[str], project_key: Optional[str]) -> Tuple[bool, ...]:
    """Which of its outputs are built by partition: a chain keeps one partition spec for all its outputs."""
    return tuple(
        sorted({o.id in partitioned and o.project_key in (None, project_key) for o in recipe.outputs}, reverse=True)
    )


def one_partitioning(recipes: Sequence, partitioned: Collection[str] = (), project_key: Optional[str] = None) -> bool:
    """Whether every recipe builds its outputs the same way (all by partition or all whole): only then can one job
    hold them all (a job keeps one partition spec, like a chain)."""
    if not partitioned:
        return True  # every recipe builds whole
    return len({_partitioning(r, partitioned, project_key) for r in recipes if r.outputs}) <= 1


def shared_groups(groups: Sequence[Tuple[str, ...]]) -> Dict[str, int]:
    """``{recipe: group number}`` (1-based, in plan order) of the recipes that share a job with others."""
    out: Dict[str, int] = {}
    number = 0
    for group in groups:
        if len(group) > 1:
            number += 1
            out.update(dict.fromkeys(group, number))
    return out


def split_groups(groups: Sequence[Tuple[str, ...]], key: Mapping[str, object]) -> List[Tuple[str, ...]]:
    """The groups cut wherever two neighbours have different ``key`` values (missing: None): resume keeps the recipes
    an earlier run's job built apart from those it did not, so an adopted job is never taken for more than it built."""
    out: List[Tuple[str, ...]] = []
    for group in groups:
        start = 0
        for i in range(1, len(group)):
            if key.get(group[i]) != key.get(group[i - 1]):
                out.append(tuple(group[start:i]))
                start = i
        out.append(tuple(group[start:]))
    return out
