"""Scaling table: generated Flows of 1,000, 5,000 and 20,000 recipes built through the CLI at ``--max-parallel 50``.

Each size is built once, as users run it (``flow-orchestrator build --all --max-parallel 50 --json FILE``), against
an emulator served in its own process with 60 activity slots (DSS is never the cap). Recipes last 0.2 to 0.6 s.
Side by side, per size (how each figure is taken: :mod:`bench.cli_run`):

* makespan ÷ bound: the run's span in its record (first job start to the end) over max(critical path, total work /
  50), both from DSS's own job times in the record;
* CLI CPU ms per recipe (the whole process: planning, polling, record writing; modules compiled beforehand, as an
  installed command has them);
* bytes per status poll (job list or job status answers) and requests per recipe;
* record bytes written per recipe (every file write of the CLI: the record and whatever keeps it current);
* peak memory of the CLI process (resident, not only traced allocations);
* the emulator's answer time (p50 / p99 of every request the CLI sent), so that a slow emulator shows;
* the emulator process's CPU per recipe during the run, and its share of the run's wall time (its busy share: near
  100 % the emulator, one interpreter with one lock, is what holds the run back).

A run that exceeds 1.5 × its bound + 60 s is stopped (Ctrl-C: the CLI aborts its jobs) and reported as such.
``FO_BENCH_SCALE_SIZES=500,1000`` runs a smaller table. Goals (issue 14): makespan ÷ bound <= 1.10 at every size;
CPU per recipe and bytes per poll flat (largest size within 1.5x of the smallest); peak memory under 500 MB at
20,000. They are printed with PASS / GOAL MISSED; whether a miss fails ``make bench`` is
:data:`bench.RUNNER_GOALS_ENFORCED` (a run that fails fails it either way).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "python-lib"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench import RUNNER_GOALS_ENFORCED  # noqa: E402
from bench.cli_run import (  # noqa: E402
    CliRun,
    Goal,
    child_env,
    connection_args,
    percentile,
    process_cpu_s,
    run_cli,
    served_emulator,
)

DEFAULT_SIZES = (1_000, 5_000, 20_000)
MAX_PARALLEL, ACTIVITY_CAP, WIDTH, SEED = 50, 60, 100, 14
MIN_S, MAX_S = 0.2, 0.6
RATIO_GOAL, FLAT_GOAL, MEMORY_GOAL_BYTES = 1.10, 1.5, 500 * 10**6


@dataclass
class SizeResult:
    recipes: int
    run: CliRun
    bound_s: float
    span_s: Optional[float]  # None when the run was stopped
    limit_s: float
    load_s: float
    emulator_cpu_s: Optional[float] = None  # the emulator process's CPU while the CLI ran (None: not readable)

    @property
    def ratio(self) -> Optional[float]:
        return None if self.span_s is None else self.span_s / self.bound_s

    @property
    def cpu_ms_per_recipe(self) -> float:
        return self.run.cpu_s * 1000 / self.recipes

    @property
    def emulator_cpu_ms_per_recipe(self) -> Optional[float]:
        return None if self.emulator_cpu_s is None else self.emulator_cpu_s * 1000 / self.recipes

    @property
    def emulator_busy(self) -> Optional[float]:
        """The emulator's CPU over the run's wall time: near 1.0 it has a core (its GIL) to itself and is the cap."""
        return None if self.emulator_cpu_s is None else self.emulator_cpu_s / max(self.run.wall_s, 1e-9)

    @property
    def bytes_per_poll(self) -> float:
        polls = self.run.status_polls()
        return sum(p[3] for p in polls) / len(polls) if polls else 0.0

    @property
    def polls_per_recipe(self) -> float:
        return len(self.run.status_polls()) / self.recipes

    @property
    def requests_per_recipe(self) -> float:
        return len(self.run.requests) / self.recipes

    @property
    def record_bytes_per_recipe(self) -> Optional[float]:
        written = self.run.file_bytes_written
        return None if written is None else written / self.recipes


def sizes_from_env() -> List[int]:
    text = os.environ.get("FO_BENCH_SCALE_SIZES", "").strip()
    if not text:
        return list(DEFAULT_SIZES)
    try:
        sizes = sorted({int(part) for part in text.replace(";", ",").split(",") if part.strip()})
    except ValueError:
        raise SystemExit(
            f"FO_BENCH_SCALE_SIZES={text!r}: give recipe counts separated by commas, e.g. 1000,5000"
        ) from None
    if not sizes or sizes[0] < 1:
        raise SystemExit(f"FO_BENCH_SCALE_SIZES={text!r}: give positive recipe counts")
    return sizes


def bound_s(flow: dict, durations: Dict[str, float]) -> float:
    """max(critical path, total work / MAX_PARALLEL); generated Flows list recipes in a topological order."""
    producer = {out: r["name"] for r in flow["recipes"] for out in r["outputs"]}
    finish: Dict[str, float] = {}
    for recipe in flow["recipes"]:
        start = max((finish[producer[i]] for i in recipe["inputs"] if i in producer), default=0.0)
        finish[recipe["name"]] = start + durations[recipe["name"]]
    return max(max(finish.values(), default=0.0), sum(durations.values()) / MAX_PARALLEL)


def dss_durations(record: Optional[dict]) -> Optional[Dict[str, float]]:
    """Each recipe's job duration from DSS's times in the record; None unless every recipe has them."""
    from flow_orchestrator.record import parse_utc

    if not record:
        return None
    durations = {}
    for item in record.get("recipes") or []:
        start, end = parse_utc(item.get("started_at")), parse_utc(item.get("ended_at"))
        if start is None or end is None:
            return None
        durations[item["name"]] = (end - start).total_seconds()
    return durations


def run_span_s(record: Optional[dict]) -> Optional[float]:
    """From the first job's start to the run's end, in the record (planning and start-up left out)."""
    from flow_orchestrator.record import parse_utc

    if not record or record.get("state") != "SUCCESS":
        return None
    starts = [parse_utc(r.get("started_at")) for r in record.get("recipes") or []]
    ended = parse_utc(record.get("ended_at"))
    if ended is None or not starts or None in starts:
        return None
    return (ended - min(starts)).total_seconds()


def compile_modules(bytecode: str) -> None:
    """Compile what a build imports into ``bytecode``, as an installed command has its modules compiled: the
    smallest Flow's CPU per recipe would otherwise count compiling the library (about a second) for it alone."""
    subprocess.run(
        [sys.executable, "-c", "import flow_orchestrator.cli.build, flow_orchestrator.pipeline, dataikuapi, requests"],
        env=child_env(bytecode),
        cwd=str(ROOT),
        check=True,
    )


def measure(recipes: int, bytecode: Optional[str] = None) -> SizeResult:
    from dss_emulator.flowfile import generate_flow

    project_key = f"SCALE{recipes}"
    flow = generate_flow(
        recipes, width=WIDTH, seed=SEED, min_duration=MIN_S, max_duration=MAX_S, project_key=project_key
    )
    planned = {r["name"]: r["emulation"]["duration"] for r in flow["recipes"]}
    limit = 1.5 * bound_s(flow, planned) + 60
    emulator: List[int] = []
    with served_emulator(flow, ACTIVITY_CAP, emulator) as (url, load_s), tempfile.TemporaryDirectory() as folder:
        record_path = os.path.join(folder, "record.json")
        args = ["build", *connection_args(url, project_key), "--all", "--max-parallel", str(MAX_PARALLEL)]
        cpu_before = process_cpu_s(emulator[0])
        run = run_cli(
            [*args, "--json", record_path, "--quiet"], timeout_s=limit, record_path=record_path, bytecode_cache=bytecode
        )
        cpu_after = process_cpu_s(emulator[0])
    durations = dss_durations(run.record) or planned
    emulator_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return SizeResult(recipes, run, bound_s(flow, durations), run_span_s(run.record), limit, load_s, emulator_cpu)


def _row(label: str, values: List[str], goal: str = "") -> str:
    return f"{label:<40}" + "".join(f"{v:>14}" for v in values) + f"   {goal}"


def print_table(results: List[SizeResult]) -> None:
    print(_row("recipes", [f"{r.recipes:,}" for r in results], "goal"))
    print(
        _row(
            "makespan / bound",
            [f"{r.ratio:.3f}" if r.ratio is not None else f"stopped {r.limit_s:.0f}s" for r in results],
            f"<= {RATIO_GOAL:.2f}",
        )
    )
    print(_row("  run span (s) / bound (s)", [f"{r.span_s or 0:.0f} / {r.bound_s:.0f}" for r in results]))
    print(_row("  CLI wall time (s)", [f"{r.run.wall_s:.1f}" for r in results]))
    print(_row("CLI CPU ms per recipe", [f"{r.cpu_ms_per_recipe:.2f}" for r in results], "flat (1.5x)"))
    print(_row("bytes per status poll", [f"{r.bytes_per_poll:,.0f}" for r in results], "flat (1.5x)"))
    print(_row("  status polls per recipe", [f"{r.polls_per_recipe:.2f}" for r in results]))
    print(_row("requests per recipe", [f"{r.requests_per_recipe:.2f}" for r in results]))
    print(
        _row(
            "record bytes written per recipe",
            [f"{r.record_bytes_per_recipe:,.0f}" if r.record_bytes_per_recipe is not None else "n/a" for r in results],
        )
    )
    print(
        _row("peak memory of the CLI (MB)", [f"{r.run.peak_rss_bytes / 1e6:.0f}" for r in results], "< 500 at 20,000")
    )
    print(
        _row(
            "emulator answer p50 / p99 (ms)",
            [
                f"{percentile(r.run.latencies_s(), 0.5) * 1000:.0f} / {percentile(r.run.latencies_s(), 0.99) * 1000:.0f}"
                for r in results
            ],
        )
    )
    print(
        _row(
            "emulator CPU ms per recipe (busy share)",
            [
                f"{r.emulator_cpu_ms_per_recipe:.2f} ({r.emulator_busy:.0%})" if r.emulator_cpu_s is not None else "n/a"
                for r in results
            ],
        )
    )
    print(_row("  emulator load time (s, not measured)", [f"{r.load_s:.0f}" for r in results]))


def goals_of(results: List[SizeResult]) -> List[Goal]:
    owner = "runner, issue 14 items 1-3"
    goals = [
        Goal(
            f"makespan / bound at {r.recipes:,} recipes: "
            + (f"{r.ratio:.3f}" if r.ratio is not None else f"stopped after {r.limit_s:.0f} s"),
            f"<= {RATIO_GOAL:.2f}",
            r.ratio is not None and r.ratio <= RATIO_GOAL,
            owner,
        )
        for r in results
    ]
    small, large = results[0], results[-1]
    # A stopped run's figures cover part of a run only: a goal they would meet is not met.
    stopped = " (a run was stopped: not comparable)" if small.run.timed_out or large.run.timed_out else ""
    if len(results) > 1:
        cpu = large.cpu_ms_per_recipe / max(small.cpu_ms_per_recipe, 1e-9)
        polls = large.bytes_per_poll / max(small.bytes_per_poll, 1e-9)
        span = f"{small.recipes:,} to {large.recipes:,} recipes"
        goals.append(
            Goal(
                f"CLI CPU per recipe, {span}: x{cpu:.2f}{stopped}",
                f"<= x{FLAT_GOAL}",
                cpu <= FLAT_GOAL and not stopped,
                owner,
            )
        )
        goals.append(
            Goal(
                f"bytes per status poll, {span}: x{polls:.2f}{stopped}",
                f"<= x{FLAT_GOAL}",
                polls <= FLAT_GOAL and not stopped,
                owner,
            )
        )
    large_stopped = " (run stopped: not comparable)" if large.run.timed_out else ""
    goals.append(
        Goal(
            f"peak memory at {large.recipes:,} recipes: {large.run.peak_rss_bytes / 1e6:.0f} MB{large_stopped}",
            "< 500 MB at 20,000",
            large.run.peak_rss_bytes < MEMORY_GOAL_BYTES and not large_stopped,
            owner,
        )
    )
    return goals


def main() -> int:
    sizes = sizes_from_env()
    print(
        f"Generated Flows (width {WIDTH}, seed {SEED}), recipes of {MIN_S}-{MAX_S} s, --max-parallel {MAX_PARALLEL}, "
        f"{ACTIVITY_CAP} activity slots; sizes {', '.join(f'{s:,}' for s in sizes)} (FO_BENCH_SCALE_SIZES)"
    )
    results, broken = [], []
    bytecode = tempfile.mkdtemp(prefix="fo-bench-pyc-")
    compile_modules(bytecode)
    for size in sizes:
        result = measure(size, bytecode)
        results.append(result)
        state = (result.run.record or {}).get("state")
        print(
            f"  {size:,} recipes: {state or 'no record'} in {result.run.wall_s:.1f} s"
            + (" (stopped at the time limit)" if result.run.timed_out else ""),
            flush=True,
        )
        if state != "SUCCESS" and not result.run.timed_out:
            broken.append(f"{size:,} recipes: the run ended {state or 'without a record'}: {result.run.stderr_tail}")
    shutil.rmtree(bytecode, ignore_errors=True)
    print_table(results)
    goals = goals_of(results)
    for goal in goals:
        print(goal.line())
    for problem in broken:
        print(f"RUN FAILED  {problem}")
    missed = [g for g in goals if not g.met]
    if missed and not RUNNER_GOALS_ENFORCED:
        print(f"{len(missed)} scaling goal(s) missed; not failing `make bench` yet (bench.RUNNER_GOALS_ENFORCED)")
    return 1 if broken or (missed and RUNNER_GOALS_ENFORCED) else 0


if __name__ == "__main__":
    sys.exit(main())
