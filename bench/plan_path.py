"""``flow-orchestrator plan`` on a 20,000-recipe Flow, through the CLI against a served emulator: what it fetches.

Measured as users run it (a fresh process: imports of compiled modules, connection, reads, planning, printing),
after a first run that is not counted, three times: wall time, CPU, peak resident memory, and every request with the
bytes it brought. Goals: under 2 s and 200 MB. Beside it,
planning alone in that process's conditions (the graph payload parsed, then graph and plan built, both with the
garbage collector paused, as the CLI does; in CPU time, see :mod:`bench.planning_cost`): what the command costs
beyond planning is reading and printing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "python-lib"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench.cli_run import Goal, connection_args, run_cli, served_emulator  # noqa: E402

RECIPES, WIDTH, SEED, PROJECT_KEY = 20_000, 50, 3, "PLAN20K"
RUNS = 3
WALL_GOAL_S, MEMORY_GOAL_BYTES = 2.0, 200 * 10**6


def planning_alone(url: str):
    """Planning the served Flow from its graph answer, in this process (see bench.planning_cost): no recipe items,
    as ``plan --all`` reads none when the graph gives every recipe's type."""
    import requests

    from bench.cli_run import API_KEY
    from bench.planning_cost import planning_cost

    text = requests.get(f"{url}/dip/publicapi/projects/{PROJECT_KEY}/flow/graph/", auth=(API_KEY, ""), timeout=300).text
    return planning_cost(text, PROJECT_KEY, repeats=5)


def main() -> int:
    from dss_emulator.flowfile import generate_flow

    flow = generate_flow(RECIPES, width=WIDTH, seed=SEED, project_key=PROJECT_KEY)
    runs = []
    with served_emulator(flow) as (url, load_s), tempfile.TemporaryDirectory(prefix="fo-bench-pyc-") as bytecode:
        print(f"emulator: {RECIPES:,} recipes, {len(flow['datasets']):,} datasets, loaded in {load_s:.0f} s")
        # A first run, not counted, compiles the modules (an installed command has them compiled) and has the
        # emulator serialise the Flow graph once, as it does once per Flow shape.
        for _ in range(1 + RUNS):
            run = run_cli(["plan", *connection_args(url, PROJECT_KEY), "--all"], timeout_s=300, bytecode_cache=bytecode)
            if run.exit_code != 0:
                print(f"plan failed (exit {run.exit_code}): {run.stderr_tail}")
                return 1
            runs.append(run)
        first, runs = runs[0], runs[1:]
        planning = planning_alone(url)
    last = runs[-1]
    streamed = last.received_bytes - sum(r[3] for r in last.requests if r[3] >= 0)
    print(f"what `plan` fetches ({len(last.requests)} requests, {last.received_bytes / 1e6:.1f} MB received):")
    for method, path, seconds, size in last.requests:
        shown = f"{size / 1e6:8.2f} MB" if size >= 0 else f"{streamed / 1e6:8.2f} MB (streamed)"
        print(f"  {method} {path:<52}{shown}  {seconds * 1000:7.0f} ms")
    walls = [r.wall_s for r in runs]
    peak = max(r.peak_rss_bytes for r in runs)
    cpu = statistics.median(r.cpu_s for r in runs)
    print(
        f"first run, not counted (compiles the modules; the emulator serialises its graph): wall {first.wall_s:.2f} s, "
        f"CPU {first.cpu_s:.2f} s, graph answered in "
        f"{next((r[2] for r in first.requests if 'flow/graph' in r[1]), 0) * 1000:.0f} ms"
    )
    print(
        f"plan through the CLI, {RUNS} runs: wall {', '.join(f'{w:.2f}' for w in walls)} s (median "
        f"{statistics.median(walls):.2f} s), CPU {cpu:.2f} s, peak memory "
        f"{', '.join(f'{r.peak_rss_bytes / 1e6:.0f}' for r in runs)} MB"
    )
    print(f"planning alone, graph + plan / parse {planning.ratio:.2f} ({planning.describe()})")
    goals = [
        Goal(
            f"plan of {RECIPES:,} recipes through the CLI: {statistics.median(walls):.2f} s",
            "< 2 s",
            statistics.median(walls) < WALL_GOAL_S,
        ),
        Goal(f"plan peak memory {peak / 1e6:.0f} MB", "< 200 MB", peak < MEMORY_GOAL_BYTES),
    ]
    for goal in goals:
        print(goal.line())
    return 0 if all(g.met for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
