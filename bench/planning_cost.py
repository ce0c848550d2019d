"""Planning against parsing, measured so that a loaded machine does not decide the figure.

Two runs of the same ratio gave 1.93 and 4.28 when each side was the best of its own repeats in wall time: on a busy
machine another process taking the core during one side's few tens of milliseconds doubles it. Here each repeat
parses the graph payload and at once builds the graph and the plan from it, in the same conditions (a full
collection first, the collector paused for both, as the library does), timed in this thread's CPU time
(``time.thread_time``: time the core spent on other processes does not count). The figure is the median of the
repeats' own ratios (each pair measured within a tenth of a second); the ratio of the minimums and the wall-time
median are shown beside it. A first pair is not counted: the first parse in a fresh heap is a quarter slower than
the next ones.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from typing import List, NamedTuple, Optional, Sequence

from flow_orchestrator.config import BuildConfig
from flow_orchestrator.graph import FlowGraph, gc_paused
from flow_orchestrator.plan import make_plan


class PlanningCost(NamedTuple):
    repeats: int
    ratio: float  # median over repeats of (graph + plan CPU) / (parse CPU)
    ratio_of_minimums: float
    wall_ratio: float  # median over repeats, wall time
    parse_s: float  # median parse CPU seconds
    plan_s: float  # median graph + plan CPU seconds
    payload_bytes: int
    recipes: int

    def describe(self) -> str:
        return (
            f"median of {self.repeats} interleaved parse-then-plan pairs, thread CPU time, GC paused for both as in "
            f"the library: parse {self.parse_s * 1000:.0f} ms, graph + plan {self.plan_s * 1000:.0f} ms of the "
            f"{self.payload_bytes / 1e6:.1f} MB graph; ratio of minimums {self.ratio_of_minimums:.2f}, wall-time "
            f"median {self.wall_ratio:.2f}"
        )


def planning_cost(
    text: str, project_key: str, recipe_items: Optional[Sequence[dict]] = None, repeats: int = 11
) -> PlanningCost:
    """Parse ``text`` (a Flow graph answer) and plan the whole Flow from it, ``repeats`` times, pair by pair."""
    parse_cpu: List[float] = []
    plan_cpu: List[float] = []
    ratios: List[float] = []
    wall_ratios: List[float] = []
    planned = 0
    for repeat in range(-1, repeats):  # a first pair, not counted, settles the heap (a fresh heap parses slower)
        gc.collect()
        w0, c0 = time.perf_counter(), time.thread_time()
        with gc_paused():  # as DSSGateway.flow_graph_payload parses it
            payload = json.loads(text)
        w1, c1 = time.perf_counter(), time.thread_time()
        graph = FlowGraph.from_payload(payload, recipe_items, project_key=project_key)
        plan = make_plan(graph, BuildConfig(), project_key)
        w2, c2 = time.perf_counter(), time.thread_time()
        planned = len(plan.recipes)
        del payload, graph, plan
        if repeat < 0:
            continue
        parse_cpu.append(c1 - c0)
        plan_cpu.append(c2 - c1)
        ratios.append((c2 - c1) / (c1 - c0))
        wall_ratios.append((w2 - w1) / (w1 - w0))
    return PlanningCost(
        repeats=repeats,
        ratio=statistics.median(ratios),
        ratio_of_minimums=min(plan_cpu) / min(parse_cpu),
        wall_ratio=statistics.median(wall_ratios),
        parse_s=statistics.median(parse_cpu),
        plan_s=statistics.median(plan_cpu),
        payload_bytes=len(text.encode("utf-8")),
        recipes=planned,
    )
