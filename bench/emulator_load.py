"""Emulator under load: 50 concurrent jobs on a 200-recipe generated flow, driven through the real dataikuapi client.

Set-up (not measured): generate the flow, start the emulator, build every recipe once. Measured: 50 threads, each
with its own ``DSSClient``, start one NON_RECURSIVE_FORCED_BUILD job of a distinct recipe, poll its status until it
ends, then read its log, its output's info and the project's job list. Prints requests per second, the latency
percentiles of every HTTP request (time to response headers) and the error count; the goal is no error.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import List

from dss_emulator import EmulatedDSS
from dss_emulator.flowfile import generate_flow

RECIPES = 200
CONCURRENT_JOBS = 50
POLL_SECONDS = 0.02
TERMINAL = ("DONE", "FAILED", "ABORTED")


def _percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def main() -> int:
    flow = generate_flow(RECIPES, width=8, seed=11, min_duration=0.01, max_duration=0.05)
    project_key = flow["projectKey"]
    with EmulatedDSS.start(flows=[flow]) as dss:
        setup = dss.client().get_project(project_key)
        graph = setup.get_flow().get_graph()
        sinks = [
            n["ref"]
            for n in graph.nodes.values()
            if n["type"] == "COMPUTABLE_DATASET" and not n["successors"] and n["predecessors"]
        ]
        builder = setup.new_job("RECURSIVE_FORCED_BUILD")
        for sink in sinks:
            builder.with_output(sink, object_type="DATASET")
        started = time.perf_counter()
        state = builder.start_and_wait(no_fail=True).get_status()["baseStatus"]["state"]
        print(f"set-up: built {RECIPES} recipes in {time.perf_counter() - started:.1f} s ({state})")
        if state != "DONE":
            print("set-up build failed: the benchmark cannot run")
            return 1
        recipes = [n for n in graph.nodes.values() if n["type"] == "RUNNABLE_RECIPE"][:CONCURRENT_JOBS]

        latencies: List[float] = []
        errors: List[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def record(response, *args, **kwargs):
            with lock:
                latencies.append(response.elapsed.total_seconds())

        def worker(recipe_node: dict) -> None:
            client = dss.client()
            client._session.hooks["response"].append(record)  # noqa: SLF001 - measuring the client's own session
            project = client.get_project(project_key)
            try:
                output = recipe_node["successors"][0]
                job = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output(output, object_type="DATASET").start()
                while True:
                    state = job.get_status()["baseStatus"]["state"]
                    if state in TERMINAL:
                        break
                    stop.wait(POLL_SECONDS)
                if state != "DONE":
                    raise RuntimeError(f"job {job.id} ended {state}")
                job.get_log()
                project.get_dataset(output).get_info()
                project.list_jobs()
            except Exception as exc:  # noqa: BLE001 - every failure counts as an error of the benchmark
                with lock:
                    errors.append(f"{recipe_node['ref']}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=worker, args=(node,), daemon=True) for node in recipes]
        requests_before = dss.request_count
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        elapsed = time.perf_counter() - started
        served = dss.request_count - requests_before

    print(f"{len(recipes)} concurrent jobs, {served} requests in {elapsed:.2f} s: {served / elapsed:.0f} requests/s")
    if latencies:
        print(
            f"latency p50 {_percentile(latencies, 0.50) * 1000:.1f} ms, p95 {_percentile(latencies, 0.95) * 1000:.1f}"
            f" ms, p99 {_percentile(latencies, 0.99) * 1000:.1f} ms, mean {statistics.mean(latencies) * 1000:.1f} ms"
        )
    print(f"errors: {len(errors)} (goal: 0)")
    for error in errors[:10]:
        print(f"  {error}")
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
