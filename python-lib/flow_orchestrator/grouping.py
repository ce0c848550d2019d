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
    by_name = {r.name: r for r in recipes}
    sole = _sole_downstream(recipes)
    # how each recipe builds its outputs, once each (and not at all when nothing is built by partition)
    parts = {r.name: _partitioning(r, partitioned, project_key) for r in recipes} if partitioned else None
    group_of: Dict[str, List[str]] = {}
    groups: List[List[str]] = []
    previous_in_list = None
    for recipe in recipes:
        name = recipe.name
        up = _only_upstream(recipe.upstream, by_name)
        chained = (
            up is not None
            and sole.get(up) == name
            and (not ordered or up == previous_in_list)
            and _chainable(by_name[up], recipe, parts, project_key)
        )
        if chained and up in group_of:
            group = group_of[name] = group_of[up]
            group.append(name)
        else:
            group = group_of[name] = [name]
            groups.append(group)
        previous_in_list = name
    return [tuple(group) for group in groups]


#: :func:`_sole_downstream`'s mark for a recipe with several recipes of the plan downstream.
_SEVERAL = object()


def _sole_downstream(recipes: Sequence) -> Dict[str, object]:
    """``{recipe: the one recipe of the plan downstream of it}``, or ``_SEVERAL`` (none downstream: absent)."""
    sole: Dict[str, object] = {}
    for recipe in recipes:
        name = recipe.name
        for up in recipe.upstream:
            seen = sole.setdefault(up, name)
            if seen != name:
                sole[up] = _SEVERAL
    return sole


def _only_upstream(upstream: Sequence[str], by_name: Mapping) -> Optional[str]:
    """The recipe's one upstream recipe in the plan, None when it has none or several."""
    if len(upstream) == 1:  # the usual case
        return upstream[0] if upstream[0] in by_name else None
    found = None
    for up in upstream:
        if up in by_name:
            if found is not None and up != found:
                return None
            found = up
    return found


def _chainable(previous, recipe, parts, project_key: Optional[str]) -> bool:
    """Whether ``recipe`` can continue the chain ending with ``previous``, its one upstream recipe of which it is the
    one downstream recipe (``parts``: each recipe's :func:`_partitioning`, None when nothing is built by partition)."""
    if not previous.outputs or not recipe.outputs or not _reads_directly(recipe, previous, project_key):
        return False
    return parts is None or parts[previous.name] == parts[recipe.name]


def _reads_directly(recipe, previous, project_key: Optional[str]) -> bool:
    """The recipe reads an output of ``previous`` itself (not through a recipe left out of the plan): only then does
    DSS order the two inside one job."""
    outputs = previous.outputs
    if len(outputs) == 1 and not outputs[0].project_key:  # the usual case
        return outputs[0].id in recipe.inputs
    keys = set()
    for output in outputs:
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
