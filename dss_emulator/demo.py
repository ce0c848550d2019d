"""``python -m dss_emulator.demo FLOW_FILE``: the seed's dependency-ordered build of a pipeline, through dataikuapi.

Starts the emulator in-process on the flow file, then builds each recipe of the pipeline in order with
``recipe.run(no_fail=True)`` (the seed's ``build_recipe`` pattern), stopping at the first failure, and prints a
readable summary: per-recipe state and duration, the first failure's message, the output schema of the dataset
the pipeline produces for training, and its row count.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional, Tuple

from . import EmulatedDSS

TRAINING_DATASET = "ML_TRAINING_DATA"


def build_recipe(project, recipe_name: str) -> Tuple[bool, str, Optional[str]]:
    """Build one recipe and return (success, state, first failure message): the seed's pattern."""
    job = project.get_recipe(recipe_name).run(no_fail=True)
    status = job.get_status()
    state = status.get("baseStatus", {}).get("state")
    if state == "DONE":
        return True, state, None
    for info in status.get("baseStatus", {}).get("activities", {}).values():
        if info.get("firstFailure"):
            return False, state, info["firstFailure"].get("message")
    return False, state, None


def pipeline_of(project) -> List[str]:
    """The project's recipes in dependency order (upstream first), from the Flow graph."""
    graph = project.get_flow().get_graph()
    order = []
    for node in graph.get_items_in_traversal_order():
        if node["type"] == "RUNNABLE_RECIPE":
            order.append(node["ref"])
    return order


def run_demo(flow_file: str, out=sys.stdout) -> int:
    started = time.time()
    with EmulatedDSS.start(flows=[flow_file]) as dss:
        client = dss.client()
        project_key = client.list_project_keys()[0]
        project = client.get_project(project_key)
        pipeline = pipeline_of(project)
        print(f"DSS emulator on {dss.url}: project {project_key}, pipeline of {len(pipeline)} recipes", file=out)
        print("", file=out)
        failed_at = None
        for recipe_name in pipeline:
            t0 = time.time()
            ok, state, message = build_recipe(project, recipe_name)
            print(f"  {recipe_name:<32} {state:<8} {time.time() - t0:5.2f}s", file=out)
            if not ok:
                print(f"    error: {message}", file=out)
                failed_at = recipe_name
                break
        print("", file=out)
        if failed_at:
            print(f"Pipeline failed at {failed_at}. Fix and retry.", file=out)
        names = [d["name"] for d in project.list_datasets()]
        if TRAINING_DATASET in names:
            dataset = project.get_dataset(TRAINING_DATASET)
            columns = dataset.get_settings().get_raw().get("schema", {}).get("columns", [])
            print(f"{TRAINING_DATASET} has {len(columns)} columns:", file=out)
            for column in columns:
                print(f"  - {column['name']} ({column.get('type', 'unknown')})", file=out)
            if dataset.get_info().get_raw().get("lastBuild"):
                rows = sum(1 for _ in dataset.iter_rows())
                print(f"  {rows} rows", file=out)
        print("", file=out)
        print(
            f"{'FAILED' if failed_at else 'DONE'} in {time.time() - started:.1f}s ({dss.request_count} API requests)",
            file=out,
        )
        return 1 if failed_at else 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dss_emulator.demo", description=__doc__.splitlines()[0])
    parser.add_argument("flow_file", help="flow file, e.g. examples/flows/clinical.json")
    args = parser.parse_args(argv)
    return run_demo(args.flow_file)


if __name__ == "__main__":
    sys.exit(main())
