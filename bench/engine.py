"""The pipeline engine's performance claims, measured side by side in one run on the emulator.

1. Makespan of a generated Flow under ``max_parallel`` 4, one job per recipe (as the waiter runs it), divided by its
   lower bound max(critical path, total work / max_parallel), next to the sequential loop users write with
   ``dataikuapi``'s waiter (``recipe.run()``).
2. Polling that does not know the future: five runs of the engine side by side. The first run knows no durations;
   the next ones plan with the first run's record (as a build scheduled every day does) while the jobs last the
   same (replayed) or ±25 % (perturbed, seeded); then jobs 4x faster than the record says, twice: the same jobs
   planned with a record whose durations are 4x longer, and jobs made 4x shorter. For each: job-status requests and
   their bytes per recipe (goals: at most 1/3 of the waiter's requests and no more bytes than the waiter's), and the
   completion-detection lag as a share of the job's duration (median goal <= 5 %; p90 shown). The waiter's own
   figures are in the last row of each table.

   Two Flows (:data:`REGIMES`): jobs of 2-8 s, as DSS jobs last (their start alone takes seconds), where the goals
   are judged; and jobs of 0.2-0.8 s, which only an emulator runs, shown for what they teach: there nothing can
   meet both polling goals of a first run. With ends nobody can predict, catching half of them within 5 % of their
   job's duration takes a request every ~10 % of a typical duration, i.e. at least 10 / P requests per recipe with
   P jobs sharing each answer (2.5 at P = 4), while the waiter makes only ~4 per sub-second job (it starts at
   0.2 s and misses its ends by ~30 %). The bench prints that bound beside the figures.
3. Planning a 10,000-recipe graph against parsing its JSON, both with the garbage collector paused as the library
   does for both, as the median of interleaved pairs in CPU time (:mod:`bench.planning_cost`; goal <= 2), and a
   100,000-deep chain.

Job durations are DSS's own job times (jobStartTime/jobEndTime), read after each run with a separate client, so
that only the requests of the engine (or of the waiter) are counted. The runner's goals (1 and 2) fail ``make
bench`` only when :data:`bench.RUNNER_GOALS_ENFORCED` is set; planning's always do.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "python-lib"), str(ROOT)]

from flow_orchestrator.config import BuildConfig, RunOptions  # noqa: E402
from flow_orchestrator.dss import DSSGateway  # noqa: E402
from flow_orchestrator.graph import FlowGraph  # noqa: E402
from flow_orchestrator.pipeline import run_build  # noqa: E402
from flow_orchestrator.plan import make_plan  # noqa: E402

from bench import RUNNER_GOALS_ENFORCED  # noqa: E402
from bench.cli_run import Goal  # noqa: E402
from bench.planning_cost import PlanningCost, planning_cost  # noqa: E402
from dss_emulator import EmulatedDSS  # noqa: E402
from dss_emulator.flowfile import generate_flow  # noqa: E402

SEED, PERTURBATION, FASTER = 11, 0.25, 4.0
#: With ends nobody can predict, a median lag of at most 5 % of a job's duration takes a request every ~10 % of it.
UNPREDICTABLE_SHARE = 0.10


class Regime(NamedTuple):
    """One generated Flow the engine and the waiter build: its size, job durations and cap."""

    label: str
    recipes: int
    width: int
    min_s: float
    max_s: float
    max_parallel: int
    judged: bool  # the goals are judged on it (else shown with the bound that rules them out)

    def flow(self) -> dict:
        return generate_flow(
            self.recipes, width=self.width, seed=SEED, min_duration=self.min_s, max_duration=self.max_s
        )


REGIMES = (
    Regime("jobs of 2-8 s", 40, 8, 2.0, 8.0, 4, judged=True),
    Regime("jobs of 0.2-0.8 s (emulator only)", 150, 8, 0.2, 0.8, 4, judged=False),
)


class StatusCounter:
    """Counts job-status reads (job list and single-job status GETs) and their bytes on a client's HTTP session."""

    def __init__(self, client):
        self.count = 0
        self.bytes = 0
        self.running_lists = 0  # lists of the running jobs (checked before starts): not status reads, shown apart
        self._lock = threading.Lock()
        client._session.hooks.setdefault("response", []).append(self._hook)

    def _hook(self, response, *args, **kwargs):
        request = response.request
        path = request.path_url.split("?")[0]
        if request.method == "GET" and "/jobs/" in path and not path.rstrip("/").endswith(("/log", "/running")):
            with self._lock:
                self.count += 1
                self.bytes += len(response.content)  # status answers are read whole anyway
        elif request.method == "GET" and path.rstrip("/").endswith("/jobs/running"):
            with self._lock:
                self.running_lists += 1
        return response


def job_times(project, job_ids):
    """Real (start, end) of each job in seconds, from DSS's own status (use a client nobody counts)."""
    times = {}
    for job_id in job_ids:
        base = project.get_job(job_id).get_status()["baseStatus"]
        times[job_id] = (base["jobStartTime"] / 1000.0, base["jobEndTime"] / 1000.0)
    return times


def lower_bound(flow: dict, durations: dict, max_parallel: int) -> float:
    """max(critical path, total work / slots) from the real durations of each recipe's job."""
    producer = {out: r["name"] for r in flow["recipes"] for out in r["outputs"]}
    finish = {}
    for recipe in flow["recipes"]:  # generated flows list recipes in a topological order
        ups = [finish[producer[i]] for i in recipe["inputs"] if i in producer]
        finish[recipe["name"]] = max(ups, default=0.0) + durations[recipe["name"]]
    return max(max(finish.values()), sum(durations.values()) / max_parallel)


def parse_ts(text: str) -> float:
    from flow_orchestrator.record import parse_utc

    return parse_utc(text).timestamp()


class RunFigures:
    """What one run (of the engine or of the waiter loop) cost and how fast it saw each job end."""

    def __init__(self, makespan, bound, status, status_bytes, lags):
        self.makespan, self.bound = makespan, bound
        self.status, self.status_bytes = status, status_bytes
        self.lags = lags
        self.running_lists = 0

    @property
    def ratio(self):
        return self.makespan / self.bound

    @property
    def per_recipe(self):
        return self.status / len(self.lags)

    @property
    def kb_per_recipe(self):
        return self.status_bytes / len(self.lags) / 1000

    @property
    def median_lag(self):
        return statistics.median(self.lags)

    @property
    def p90_lag(self):
        return sorted(self.lags)[int(0.9 * (len(self.lags) - 1))]


def engine_run(dss, flow, max_parallel, previous=None):
    """One build by the engine; returns its record and figures (durations and lags from DSS's job times)."""
    client = dss.client()
    counter = StatusCounter(client)
    gateway = DSSGateway(client, flow["projectKey"], dss_url=dss.url)
    # one job per recipe: this bench measures how the run follows each job (its end, its lag) against the waiter,
    # which builds one recipe per job too; job times are then each recipe's own (the bound and the lags use them)
    config = BuildConfig(options=RunOptions(max_parallel=max_parallel, strategy="per-recipe"))
    started = time.perf_counter()
    record = run_build(gateway, config, previous_record=previous).to_dict()
    makespan = time.perf_counter() - started
    assert record["state"] == "SUCCESS", record["state"]
    job_of = {r["name"]: r["job_ids"][-1] for r in record["recipes"]}
    times = job_times(dss.client().get_project(flow["projectKey"]), job_of.values())
    durations = {name: times[job][1] - times[job][0] for name, job in job_of.items()}
    lags = []
    for r in record["recipes"]:
        start, end = times[job_of[r["name"]]]
        noticed = parse_ts(r["attempt_history"][-1]["noticed_at"])  # the run's clock; ended_at is DSS's own
        lags.append(max(0.0, noticed - end) / max(end - start, 1e-3))
    figures = RunFigures(makespan, lower_bound(flow, durations, max_parallel), counter.count, counter.bytes, lags)
    figures.running_lists = counter.running_lists
    return record, figures


def sequential_waiter_loop(dss, flow, max_parallel):
    """The loop users write: ``recipe.run(no_fail=True)`` one after the other, ``dataikuapi``'s waiter in each.

    Only the waiter's status reads are counted; the final states and times are read afterwards with another client.
    The lag of a job is from its end in DSS to the moment ``run()`` returned. Its makespan is divided by the bound
    of the engine's runs (``max_parallel`` slots), to compare the two.
    """
    client = dss.client()
    counter = StatusCounter(client)
    project = client.get_project(flow["projectKey"])
    returned = {}
    started = time.perf_counter()
    job_ids = []
    for recipe in flow["recipes"]:
        job_ids.append(project.get_recipe(recipe["name"]).run(no_fail=True).id)
        returned[job_ids[-1]] = time.time()
    makespan = time.perf_counter() - started
    checker = dss.client().get_project(flow["projectKey"])
    for recipe, job_id in zip(flow["recipes"], job_ids):
        state = checker.get_job(job_id).get_status()["baseStatus"]["state"]
        assert state == "DONE", (recipe["name"], state)
    times = job_times(checker, job_ids)
    durations = {r["name"]: times[j][1] - times[j][0] for r, j in zip(flow["recipes"], job_ids)}
    lags = [max(0.0, returned[j] - times[j][1]) / max(times[j][1] - times[j][0], 1e-3) for j in job_ids]
    return RunFigures(makespan, lower_bound(flow, durations, max_parallel), counter.count, counter.bytes, lags)


def scaled_record(record: dict, factor: float) -> dict:
    """``record`` as if every job had lasted ``factor`` times as long (what the next run expects)."""
    scaled = json.loads(json.dumps(record))
    for recipe in scaled["recipes"]:
        if isinstance(recipe.get("duration_s"), (int, float)):
            recipe["duration_s"] *= factor
        for attempt in recipe.get("attempt_history") or ():
            if isinstance(attempt.get("job_duration_s"), (int, float)):
                attempt["job_duration_s"] *= factor
    return scaled


def set_durations(dss, flow, factor_of):
    """Make each recipe's next jobs last its flow duration times ``factor_of(name)``."""
    for recipe in flow["recipes"]:
        duration = recipe["emulation"]["duration"] * factor_of(recipe["name"])
        dss.set_duration(flow["projectKey"], recipe["name"], duration)


def planning_ratio(n: int = 10_000) -> PlanningCost:
    """Planning the whole of a generated ``n``-recipe Flow against parsing its graph answer (see bench.planning_cost).

    The answer is fetched from an emulator in a child process: this process then holds the answer's text and the
    recipe items only, as the command line does when it plans (an emulator holding the Flow in the same heap made
    every lookup of planning slower: 2.0-2.2 against 1.7 for the same code).
    """
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-c", f"from bench.engine import write_graph_answer; write_graph_answer({n}, {folder!r})"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "python-lib"), str(ROOT)])},
            check=True,
        )
        text = Path(folder, "graph.json").read_text(encoding="utf-8")
        recipes = json.loads(Path(folder, "recipes.json").read_text(encoding="utf-8"))
    cost = planning_cost(text, GRAPH_PROJECT, recipes)
    assert cost.recipes == n
    return cost


GRAPH_PROJECT = "GENERATED"


def write_graph_answer(n: int, folder: str) -> None:
    """The emulator's Flow graph answer for a generated ``n``-recipe Flow, and its recipe items, into ``folder``."""
    import requests

    flow = generate_flow(n, width=50, seed=3, project_key=GRAPH_PROJECT)
    with EmulatedDSS.start(flows=[flow]) as dss:
        text = requests.get(
            f"{dss.url}/dip/publicapi/projects/{GRAPH_PROJECT}/flow/graph/", auth=(dss.api_key, ""), timeout=120
        ).text
    Path(folder, "graph.json").write_text(text, encoding="utf-8")
    recipes = [{"name": r["name"], "type": r["type"], "tags": []} for r in flow["recipes"]]
    Path(folder, "recipes.json").write_text(json.dumps(recipes), encoding="utf-8")


def deep_chain(n: int = 100_000):
    nodes = {}
    for i in range(n):
        ds_in, recipe, ds_out = f"d{i}", f"r{i}", f"d{i + 1}"
        nodes.setdefault(ds_in, {"type": "COMPUTABLE_DATASET", "ref": ds_in, "predecessors": [], "successors": []})
        nodes[ds_in]["successors"].append(recipe)
        nodes[recipe] = {"type": "RUNNABLE_RECIPE", "ref": recipe, "predecessors": [ds_in], "successors": [ds_out]}
        nodes[ds_out] = {"type": "COMPUTABLE_DATASET", "ref": ds_out, "predecessors": [recipe], "successors": []}
    started = time.perf_counter()
    graph = FlowGraph.from_payload({"nodes": nodes}, project_key="DEEP")
    plan = make_plan(graph, BuildConfig(), "DEEP")
    return time.perf_counter() - started, len(plan.recipes), len(plan.critical_path)


def measure(regime: Regime):
    """The engine's five runs and the waiter's loop on the regime's Flow, in one emulator."""
    flow = regime.flow()
    rng = random.Random(SEED)
    perturbed = {r["name"]: rng.uniform(1 - PERTURBATION, 1 + PERTURBATION) for r in flow["recipes"]}
    runs = {}
    cap = regime.max_parallel
    with EmulatedDSS.start(flows=[flow]) as dss:
        # The first run knows no durations; its record is the "last run record" of the three others (expected
        # durations for priorities and polling), as for a build scheduled every day.
        previous, runs["first run (no durations known)"] = engine_run(dss, flow, cap)
        runs["replayed (same durations as last run)"] = engine_run(dss, flow, cap, previous=previous)[1]
        set_durations(dss, flow, perturbed.__getitem__)
        runs[f"perturbed (±{PERTURBATION:.0%} from last run)"] = engine_run(dss, flow, cap, previous=previous)[1]
        set_durations(dss, flow, lambda name: 1.0)
        runs[f"{FASTER:.0f}x faster than last run"] = engine_run(
            dss, flow, cap, previous=scaled_record(previous, FASTER)
        )[1]
        set_durations(dss, flow, lambda name: 1 / FASTER)
        faster = f"{FASTER:.0f}x faster, jobs of {regime.min_s / FASTER:g}-{regime.max_s / FASTER:g} s"
        runs[faster] = engine_run(dss, flow, cap, previous=previous)[1]
        set_durations(dss, flow, lambda name: 1.0)
        waiter = sequential_waiter_loop(dss, flow, cap)
    return runs, waiter


def report(regime: Regime, runs: dict, waiter: RunFigures) -> list:
    """Print the regime's table; its goals (judged or not)."""
    print(
        f"\n{regime.label}: {regime.recipes} generated recipes (width {regime.width}, seed {SEED}), durations "
        f"{regime.min_s:g}-{regime.max_s:g} s, max_parallel {regime.max_parallel}"
    )
    header = f"{'run':<42}{'makespan':>10}{'/ bound':>9}{'status/rec':>11}{'/ waiter':>9}{'KB/rec':>8}"
    print(header + f"{'lag p50':>9}{'lag p90':>9}")
    for label, f in list(runs.items()) + [("waiter, sequential (recipe.run())", waiter)]:
        print(
            f"{label:<42}{f.makespan:>9.1f}s{f.ratio:>9.3f}{f.per_recipe:>11.2f}{f.per_recipe / waiter.per_recipe:>9.2f}"
            f"{f.kb_per_recipe:>8.1f}{f.median_lag:>9.1%}{f.p90_lag:>9.1%}"
        )
    lists = ", ".join(f"{f.running_lists / regime.recipes:.2f}" for f in runs.values())
    print(f"running-jobs lists per recipe (before starts; not status reads), runs in the order above: {lists}")
    bound = 1 / (UNPREDICTABLE_SHARE * regime.max_parallel)
    print(
        f"bound with unpredictable ends: a median lag <= 5 % takes >= {bound:.2f} requests per recipe at "
        f"max_parallel {regime.max_parallel}, {bound / waiter.per_recipe:.2f} x the waiter's {waiter.per_recipe:.2f}"
    )
    goals = []
    for label, f in runs.items():
        label = f"{regime.label}, {label}"
        share = f.per_recipe / waiter.per_recipe
        bytes_share = f.status_bytes / max(waiter.status_bytes, 1)
        goals += [
            Goal(f"{label}: makespan / bound {f.ratio:.3f}", "<= 1.10", f.ratio <= 1.10, "runner"),
            Goal(f"{label}: status requests / waiter's {share:.2f}", "<= 1/3", share <= 1 / 3, "runner"),
            Goal(f"{label}: median detection lag {f.median_lag:.1%}", "<= 5 %", f.median_lag <= 0.05, "runner"),
            Goal(f"{label}: status bytes / waiter's {bytes_share:.2f}", "<= 1", bytes_share <= 1, "runner"),
        ]
    return goals if regime.judged else []


def main() -> int:
    # Planning is measured first, on the heap of a fresh process, as the command line plans before its first job:
    # after minutes of engine runs the heap is larger and scattered, and lookups (most of planning) slow down more
    # than parsing does.
    planning = planning_ratio()
    goals = []
    for regime in REGIMES:
        goals += report(regime, *measure(regime))
    print(f"\n{'plan 10,000 recipes / parse their JSON':<44}{planning.ratio:>12.2f}   ({planning.describe()})")
    deep_s, deep_n, deep_cp = deep_chain()
    print(f"{'100,000-deep chain planned (s)':<44}{deep_s:>12.2f}   ({deep_n} recipes, critical path {deep_cp})")
    planning_goal = Goal(f"plan 10,000 recipes / parse their JSON {planning.ratio:.2f}", "<= 2", planning.ratio <= 2)
    for goal in goals + [planning_goal]:
        print(goal.line())
    shown = ", ".join(r.label for r in REGIMES if not r.judged)
    print(f"(not judged, shown with their bound: {shown})")
    runner_missed = [g for g in goals if not g.met]
    if runner_missed and not RUNNER_GOALS_ENFORCED:
        print(f"{len(runner_missed)} runner goal(s) missed; not failing `make bench` yet (bench.RUNNER_GOALS_ENFORCED)")
    return 0 if planning_goal.met and not (runner_missed and RUNNER_GOALS_ENFORCED) else 1


if __name__ == "__main__":
    sys.exit(main())
