"""The runner's rules on random generated Flows, checked on the real emulator (few examples: each is a real run).

``tests/unit/test_runner_properties.py`` checks the same rules on a fake port with hundreds of examples; here each
example is a fresh generated project (≤ 12 recipes of 10-50 ms) with random permanent and transient failures, run by
``run_build`` over HTTP. The rules are checked from the run record *and* from the emulator's own job list, which the
runner cannot fake:

1. no recipe's job is created before every upstream recipe of the plan has a DONE job that ended earlier;
2. nothing downstream of a failed, timed-out or aborted recipe starts a job;
3. with ``continue``, the outcome is exactly the one the failures dictate (everything else succeeds);
4. attempts ≤ 1 + retries, and a transient failure is retried only while retries remain;
5. every planned recipe is in the record exactly once, every job the emulator saw is in the record, none runs on;
6. the emulator never has more of the run's jobs running at once than ``max_parallel``;
7. a recipe that started a job is never NOT_RUN or SKIPPED: its state is its last attempt's outcome, which is what
   the emulator says that job did.

The rules hold whatever the timing (a loaded machine only moves which retries are still pending when a fail-fast
run stops): the runner's scheduler gives a pending retry its last attempt's outcome, so no rule depends on a race.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Dict, List, Set

from flow_orchestrator.states import FAILED_OR_ABORTED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_emulator.flowfile import generate_flow
from tests.reliability.harness import ATTEMPT_TO_JOB_STATE, assert_run_settled, build_config, run_pipeline
from tests.unit.test_runner_properties import descendants

PROPERTIES = 7
MAX_EXAMPLES = 8
EXAMPLES_RUN: List[dict] = []
_project_numbers = itertools.count(1)

PERMANENT = "ERR_RECIPE_COMPUTATION_FAILED: column 'amount' cannot be cast to bigint"
TRANSIENT = "java.net.SocketException: Connection reset by peer"


@st.composite
def scenarios(draw):
    recipes = draw(st.integers(min_value=3, max_value=12))
    indices = st.integers(min_value=0, max_value=recipes - 1)
    failing = draw(st.sets(indices, max_size=2))
    flaky = draw(st.dictionaries(indices, st.integers(min_value=1, max_value=3), max_size=3))
    return {
        "recipes": recipes,
        "width": draw(st.integers(min_value=1, max_value=4)),
        "seed": draw(st.integers(min_value=0, max_value=10_000)),
        "failing": sorted(failing),
        "flaky": {i: n for i, n in sorted(flaky.items()) if i not in failing},
        "max_parallel": draw(st.integers(min_value=1, max_value=5)),
        "on_failure": draw(st.sampled_from(("fail-fast", "continue"))),
        "retries": draw(st.integers(min_value=0, max_value=2)),
    }


def _expected_continue(
    order: List[str], upstream: Dict[str, List[str]], failing: Set[str], flaky: Dict[str, int], retries: int
) -> Dict[str, tuple]:
    """(state, attempts) of each recipe in a ``continue`` run: failures decide everything."""
    expected: Dict[str, tuple] = {}
    for name in order:
        if any(expected[up][0] != "SUCCESS" for up in upstream[name]):
            expected[name] = ("SKIPPED", 0)
        elif name in failing:
            expected[name] = ("FAILED", 1)
        elif name in flaky:
            fails = flaky[name]
            expected[name] = ("SUCCESS", fails + 1) if fails <= retries else ("FAILED", retries + 1)
        else:
            expected[name] = ("SUCCESS", 1)
    return expected


def _activity(job, recipe: str):
    """(recipe, state, start ms, end ms) of a recipe's activity in a job on the emulator, or None."""
    return next((a for a in job.activities if a[0] == recipe), None)


def _max_concurrent(jobs) -> int:
    """Most jobs alive at once on the emulator, intervals [created, ended) in milliseconds."""
    points = []
    for job in jobs:
        points.append((job.created_ms, 1))
        points.append((job.ended_ms, -1))
    running = peak = 0
    for _, step in sorted(points, key=lambda p: (p[0], p[1])):  # at equal times, ends before starts
        running += step
        peak = max(peak, running)
    return peak


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenarios())
def test_runner_rules_hold_on_random_generated_flows(wide_emulator, scenario):
    dss = wide_emulator
    project_key = f"PROP{next(_project_numbers):03d}"
    flow = generate_flow(
        scenario["recipes"],
        width=scenario["width"],
        seed=scenario["seed"],
        min_duration=0.01,
        max_duration=0.05,
        project_key=project_key,
    )
    names = [r["name"] for r in flow["recipes"]]
    failing = {names[i] for i in scenario["failing"]}
    flaky = {names[i]: n for i, n in scenario["flaky"].items()}
    for recipe in flow["recipes"]:
        if recipe["name"] in failing:
            recipe["emulation"]["fail"] = {"message": PERMANENT, "times": None}
        elif recipe["name"] in flaky:
            recipe["emulation"]["fail"] = {"message": TRANSIENT, "times": flaky[recipe["name"]]}
    dss.load_flow(flow)
    retries = scenario["retries"]
    config = build_config(max_parallel=scenario["max_parallel"], on_failure=scenario["on_failure"], retries=retries)

    with tempfile.TemporaryDirectory(prefix="fo-prop-") as folder:
        result = run_pipeline(dss, project_key, config, Path(folder) / "record.json")
        data = assert_run_settled(result, names)  # rule 5

    recipes = {r["name"]: r for r in data["recipes"]}
    upstream = {r["name"]: list(r["upstream"]) for r in data["plan"]["recipes"]}
    order = [r["name"] for r in data["plan"]["recipes"]]
    jobs_of = {name: [result.jobs[j] for j in recipes[name]["job_ids"]] for name in order}

    # 1. a recipe runs only after each upstream recipe was built: with a job each, its job is created after the
    # upstream's successful job ended; in a grouped job (a chain), its activity starts after the upstream's ended
    grouped = data["plan"]["strategy"] == "grouped"
    for name in order:
        for job in jobs_of[name]:
            own = _activity(job, name)
            if grouped and (own is None or not own[2]):
                continue  # never started in this job
            for up in upstream[name]:
                if grouped:
                    built = [a for a in (_activity(j, up) for j in jobs_of[up]) if a and a[1] == "DONE"]
                    assert built, f"{name} ran although its upstream {up} has no DONE activity"
                    assert own[2] >= built[-1][3], f"{name} started before its upstream {up} ended"
                    continue
                done = [j for j in jobs_of[up] if j.state == "DONE"]
                assert done, f"{name} started although its upstream {up} has no DONE job"
                assert job.created_ms >= done[-1].ended_ms, f"{name} started before its upstream {up} ended"

    # 2. nothing downstream of a failure starts
    failed = {name for name, r in recipes.items() if r["state"] in FAILED_OR_ABORTED}
    for name in descendants(upstream, failed):
        assert recipes[name]["attempts"] == 0 and not jobs_of[name], f"{name} ran downstream of a failure"
        assert recipes[name]["state"] in ("SKIPPED", "NOT_RUN")

    # 3. with continue, the failures dictate the outcome exactly
    if scenario["on_failure"] == "continue":
        expected = _expected_continue(order, upstream, failing, flaky, retries)
        actual = {name: (r["state"], r["attempts"]) for name, r in recipes.items()}
        assert actual == expected
    else:
        # fail-fast: only an injected failure fails; a flaky recipe waiting for its retry when the run stops stays
        # FAILED (the retry is not attempted), a recipe running then is ABORTED
        aborted = {n for n, r in recipes.items() if r["state"] == "ABORTED"}
        assert failed <= failing | set(flaky) | aborted
        assert any(recipes[n]["state"] == "FAILED" for n in failing | set(flaky)) or not failed
        for name, recipe in recipes.items():
            if recipe["state"] == "SUCCESS":
                assert all(recipes[up]["state"] == "SUCCESS" for up in upstream[name])

    # 4. attempts: at most 1 + retries, retried only when transient
    for name, recipe in recipes.items():
        assert recipe["attempts"] <= 1 + retries
        if name in failing or name not in flaky:
            assert recipe["attempts"] <= 1, f"{name} retried although its failure is permanent"

    # 7. a started recipe's state is its last attempt's outcome, as the emulator saw that job end
    for name, recipe in recipes.items():
        if recipe["attempts"]:
            last = recipe["attempt_history"][-1]
            assert recipe["state"] == last["state"], (name, recipe["state"], last)
            if not grouped:  # grouped: its own activity's state, checked by assert_run_settled
                assert jobs_of[name][-1].state == ATTEMPT_TO_JOB_STATE[last["state"]], name

    # 6. the cap holds on the emulator
    assert _max_concurrent(result.jobs.values()) <= scenario["max_parallel"]

    EXAMPLES_RUN.append(
        {
            "project": project_key,
            "recipes": len(names),
            "jobs": len(result.jobs),
            "state": data["state"],
            **{k: scenario[k] for k in ("on_failure", "max_parallel", "retries")},
        }
    )


def test_zz_property_examples_were_run(capsys):
    """The closing note's figure: properties × examples actually checked on the emulator."""
    with capsys.disabled():
        states = ", ".join(
            f"{e['project']}:{e['recipes']}r/{e['jobs']}j/{e['on_failure']}/{e['state']}" for e in EXAMPLES_RUN
        )
        print(f"\nemulated properties: {PROPERTIES} rules x {len(EXAMPLES_RUN)} examples ({states})")
    assert len(EXAMPLES_RUN) >= MAX_EXAMPLES - 2
