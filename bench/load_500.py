"""Load: a 500-recipe generated Flow built with ``max_parallel`` 50 by the real runner, against the emulator.

The emulator runs in its own process (``python -m dss_emulator serve``, 60 activity slots) so that the runner's
memory and CPU are its own. The runner is the production path: ``run_build`` over a ``DSSGateway`` and the real
``dataikuapi`` client, default polling. Measured: HTTP requests the runner sent (counted on its session), wall time,
requests per recipe, and the runner's peak traced memory (``tracemalloc`` during ``run_build``).

Goal (exit 0): the run succeeds with a correct record (every recipe SUCCESS, exactly once, one attempt) and DSS saw
exactly one job per recipe, none still running. ``check_run`` is shared with ``tests/reliability/test_load.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

RECIPES = 500
MAX_PARALLEL = 50
ACTIVITY_CAP = 60
WIDTH = 60
SEED = 500
MIN_DURATION_S, MAX_DURATION_S = 0.05, 0.2
PROJECT_KEY = "LOAD500"
API_KEY = "bench-load-500-key"
ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT / "python-lib"), str(ROOT)):  # runnable as a script or as python -m bench load_500
    if _path not in sys.path:
        sys.path.insert(0, _path)


@dataclass
class LoadRun:
    """What one build under load did and cost."""

    record: dict
    requests: int
    wall_s: float
    peak_bytes: Optional[int]
    jobs: List[dict]  # the project's job list after the run (DSS's view)


def build_under_load(
    url: str, api_key: str, project_key: str, max_parallel: int, *, measure_memory: bool = False, **option_fields
) -> LoadRun:
    """Build every recipe of the project with ``max_parallel`` jobs at once; count requests, time and memory."""
    from flow_orchestrator.config import BuildConfig, RunOptions
    from flow_orchestrator.dss import DSSGateway, connect
    from flow_orchestrator.pipeline import run_build

    client = connect(url, api_key)
    gateway = DSSGateway(client, project_key)
    sent = [0]

    def count(response, *args, **kwargs):
        sent[0] += 1
        return response

    client._session.hooks["response"].append(count)  # noqa: SLF001 - counting the runner's own HTTP requests
    config = BuildConfig(options=RunOptions(max_parallel=max_parallel, **option_fields))
    if measure_memory:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        record = run_build(gateway, config)
        wall = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if measure_memory else None
    finally:
        if measure_memory:
            tracemalloc.stop()
    requests = sent[0]
    # every job of the run: DSS's list returns only the newest 100 unless given a larger ``limit``
    jobs = [
        dict(item) for item in client._perform_json("GET", f"/projects/{project_key}/jobs/", params={"limit": 10**6})
    ]
    return LoadRun(record.to_dict(), requests, wall, peak, jobs)


def check_run(run: LoadRun, recipes: Sequence[str], outputs: Dict[str, str]) -> List[str]:
    """Every way the run could be wrong under load; ``outputs`` maps each recipe to the dataset it builds."""
    problems = []
    record = run.record
    if record["state"] != "SUCCESS":
        problems.append(f"run state {record['state']}: {record['counts']}")
    names = [r["name"] for r in record["recipes"]]
    duplicates = sorted(name for name, n in Counter(names).items() if n > 1)
    if duplicates:
        problems.append(f"recipes recorded more than once: {duplicates[:5]}")
    missing, extra = sorted(set(recipes) - set(names)), sorted(set(names) - set(recipes))
    if missing or extra:
        problems.append(f"record differs from the Flow: missing {missing[:5]}, extra {extra[:5]}")
    not_once = [
        (r["name"], r["state"], r["attempts"])
        for r in record["recipes"]
        if r["state"] != "SUCCESS" or r["attempts"] != 1 or len(r["job_ids"]) != 1
    ]
    if not_once:
        problems.append(f"{len(not_once)} recipes not built exactly once with success: {not_once[:5]}")
    built = Counter()
    for job in run.jobs:
        for output in (job.get("def") or {}).get("outputs") or []:
            built[output.get("targetDataset")] += 1
    wrong = {recipe: built.get(dataset, 0) for recipe, dataset in outputs.items() if built.get(dataset, 0) != 1}
    if wrong:
        problems.append(f"{len(wrong)} recipes without exactly one job on DSS: {sorted(wrong.items())[:5]}")
    running = [job.get("def", {}).get("id") for job in run.jobs if job.get("state") != "DONE"]
    if running:
        problems.append(f"{len(running)} jobs not DONE on DSS: {running[:5]}")
    recorded = {job_id for r in record["recipes"] for job_id in r["job_ids"]}
    on_dss = {job.get("def", {}).get("id") for job in run.jobs}
    if recorded != on_dss:
        problems.append(
            f"jobs on DSS but not in the record: {sorted(on_dss - recorded)[:5]}; "
            f"in the record but not on DSS: {sorted(recorded - on_dss)[:5]}"
        )
    return problems


def critical_path_s(plan: dict, durations: Dict[str, float]) -> float:
    """Longest chain of real recipe durations through the plan (the plan itself only knows expected ones)."""
    finish: Dict[str, float] = {}
    for recipe in plan["recipes"]:  # plan order is topological
        start = max((finish[up] for up in recipe["upstream"] if up in finish), default=0.0)
        finish[recipe["name"]] = start + durations[recipe["name"]]
    return max(finish.values(), default=0.0)


def _start_emulator(flow_file: Path) -> tuple:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python-lib"), str(ROOT), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dss_emulator",
            "serve",
            "--flow",
            str(flow_file),
            "--api-key",
            API_KEY,
            "--activity-cap",
            str(ACTIVITY_CAP),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    line = process.stdout.readline()
    if not line.startswith("DSS emulator listening on "):
        process.kill()
        raise RuntimeError(f"the emulator did not start: {line!r} {process.stderr.read()[-2000:]}")
    return process, line.split()[4]


def main() -> int:
    from dss_emulator.flowfile import generate_flow

    flow = generate_flow(
        RECIPES,
        width=WIDTH,
        seed=SEED,
        min_duration=MIN_DURATION_S,
        max_duration=MAX_DURATION_S,
        project_key=PROJECT_KEY,
    )
    recipes = [r["name"] for r in flow["recipes"]]
    outputs = {r["name"]: r["outputs"][0] for r in flow["recipes"]}
    durations = {r["name"]: r["emulation"]["duration"] for r in flow["recipes"]}
    work = sum(durations.values())
    with tempfile.TemporaryDirectory(prefix="fo-load-") as folder:
        flow_file = Path(folder) / "flow.json"
        flow_file.write_text(json.dumps(flow), encoding="utf-8")
        process, url = _start_emulator(flow_file)
        try:
            run = build_under_load(url, API_KEY, PROJECT_KEY, MAX_PARALLEL, measure_memory=True)
        finally:
            process.terminate()
            process.wait(30)
    plan = run.record["plan"]
    problems = check_run(run, recipes, outputs)
    critical = critical_path_s(plan, durations)
    bound = max(critical, work / MAX_PARALLEL)
    print(
        f"flow: {RECIPES} recipes in {len(plan.get('layers') or [])} layers, {work:.1f} s of work, "
        f"critical path {critical:.2f} s; max_parallel {MAX_PARALLEL}, {ACTIVITY_CAP} activity slots"
    )
    print(
        f"wall time:          {run.wall_s:8.1f} s   (lower bound max(critical path, work / max_parallel) {bound:.1f} s)"
    )
    print(f"HTTP requests:      {run.requests:8d}")
    print(f"requests / recipe:  {run.requests / RECIPES:8.2f}")
    print(f"runner peak memory: {run.peak_bytes / 1e6:8.1f} MB (tracemalloc during run_build)")
    print(f"record:             {run.record['state']}, {run.record['counts']}, {len(run.jobs)} jobs on DSS")
    print(f"goal: every recipe SUCCESS exactly once, one job each on DSS -> {'met' if not problems else 'MISSED'}")
    for problem in problems:
        print(f"  problem: {problem}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
