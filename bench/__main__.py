"""`make bench`: every benchmark of the project, each printing its figures next to its goal."""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = [
    ("bench.engine", "Pipeline engine on the emulator: makespan, status requests, detection lag, planning"),
    ("bench.emulator_load", "Emulator under load: 50 concurrent jobs on a 200-recipe flow"),
    ("bench.load_500", "Load: a 500-recipe flow with max_parallel 50"),
    ("bench.plan_path", "plan through the CLI on a 20,000-recipe Flow: what it fetches, time and memory"),
    ("bench.scale", "Scaling table: 1,000 / 5,000 / 20,000 recipes through the CLI at --max-parallel 50"),
    ("bench.report_open", "A 20,000-row build report: render time, size, and opening it in headless Chromium"),
    ("bench.strategies", "Build strategies side by side at DSS job overheads of 0, 1 and 3 s (200-recipe Flows)"),
]


def main(argv=None) -> int:
    wanted = set((argv if argv is not None else sys.argv[1:]) or [])
    failed = 0
    for module_name, title in BENCHMARKS:
        short = module_name.split(".")[-1]
        if wanted and short not in wanted:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        print(f"\n=== {title} ({short}) ===", flush=True)
        started = time.perf_counter()
        code = module.main() or 0
        print(f"--- {short}: {time.perf_counter() - started:.1f} s, {'ok' if code == 0 else 'GOAL MISSED'}", flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
