"""One job with several outputs in "Build only this" mode, as the single-job and grouped strategies start them.

Through the real client against the emulator (docs/real-dss.md, "Jobs with several outputs"): each output's recipe
runs once, in dependency order inside the job, independent ones side by side within the activity slots; a failed
activity leaves the ones depending on it NOT_STARTED; an abort ends the running activity and starts nothing more;
the per-job overhead is paid once, before the first activity and after the last.
"""

from __future__ import annotations

from dss_emulator import EmulatedDSS
from dss_emulator.flowfile import generate_chain_flow

KEY = "CHAINS"


def chain_flow():
    """Two chains of three single-reader recipes: ds0001 -> ds0002 -> ds0003 and ds0004 -> ds0005 -> ds0006."""
    return generate_chain_flow(6, chain_length=3, seed=5, min_duration=0.01, max_duration=0.01, project_key=KEY)


def names(flow):
    return [recipe["name"] for recipe in flow["recipes"]]


def start(project, outputs):
    job = project.new_job("NON_RECURSIVE_FORCED_BUILD")
    for output in outputs:
        job.with_output(output, object_type="DATASET")
    return job.start()


def activities(job):
    base = job.get_status()["baseStatus"]
    return base, {a["recipeName"]: a for a in base["activities"].values()}


def test_each_output_runs_once_in_order_and_independent_chains_run_side_by_side():
    flow = chain_flow()
    recipes = names(flow)
    with EmulatedDSS.start(flows=[flow]) as dss:
        project = dss.client().get_project(KEY)
        dss.hang_recipe(KEY, recipes[0])
        dss.hang_recipe(KEY, recipes[3])
        job = start(project, [f"ds{n:04d}" for n in range(1, 7)])
        dss.wait_for_activity_state(KEY, job.id, f"{recipes[0]}_NP", ["RUNNING"])
        dss.wait_for_activity_state(KEY, job.id, f"{recipes[3]}_NP", ["RUNNING"])
        _, running = activities(job)  # both chains' first recipes at once; their downstream waits for them
        assert [running[name]["state"] for name in recipes] == ["RUNNING", "NOT_STARTED", "NOT_STARTED"] * 2
        dss.clear_faults()
        assert dss.wait_for_job(KEY, job.id) == "DONE"
        base, by_recipe = activities(job)
        assert sorted(by_recipe) == sorted(recipes) and len(base["activities"]) == 6  # one activity per recipe
        assert all(a["state"] == "DONE" and a["startTime"] and a["endTime"] for a in by_recipe.values())
        for chain in (recipes[:3], recipes[3:]):
            for upstream, downstream in zip(chain, chain[1:]):
                assert by_recipe[downstream]["dependencies"] == [f"{upstream}_NP"]
                assert by_recipe[downstream]["startTime"] >= by_recipe[upstream]["endTime"]
        assert [j["def"]["id"] for j in project.list_jobs()] == [job.id]  # the emulator's own list: one job
        for n in range(1, 7):
            assert project.get_dataset(f"ds{n:04d}").get_info().get_raw()["lastBuild"]["jobId"] == job.id


def test_a_failed_activity_leaves_the_ones_depending_on_it_not_started():
    flow = chain_flow()
    first, middle, last = names(flow)[:3]
    with EmulatedDSS.start(flows=[flow]) as dss:
        project = dss.client().get_project(KEY)
        dss.fail_recipe(KEY, middle, "bad column amount")
        job = start(project, ["ds0001", "ds0002", "ds0003"])
        assert dss.wait_for_job(KEY, job.id) == "FAILED"
        base, by_recipe = activities(job)
        assert base["state"] == "FAILED" and base["jobEndTime"] > 0
        assert by_recipe[first]["state"] == "DONE"
        assert by_recipe[middle]["state"] == "FAILED" and by_recipe[middle]["startTime"] > 0
        assert "bad column amount" in by_recipe[middle]["firstFailure"]["message"]
        never = by_recipe[last]
        assert never["state"] == "NOT_STARTED" and not never["startTime"] and not never["endTime"]
        assert "firstFailure" not in never
        assert "lastBuild" not in project.get_dataset("ds0003").get_info().get_raw()


def test_an_abort_ends_the_running_activity_and_starts_nothing_more():
    flow = chain_flow()
    first, middle, last = names(flow)[:3]
    with EmulatedDSS.start(flows=[flow]) as dss:
        project = dss.client().get_project(KEY)
        dss.hang_recipe(KEY, middle)
        job = start(project, ["ds0001", "ds0002", "ds0003"])
        dss.wait_for_activity_state(KEY, job.id, f"{middle}_NP", ["RUNNING"])
        job.abort()
        assert dss.wait_for_job(KEY, job.id) == "ABORTED"
        base, by_recipe = activities(job)
        assert base["state"] == "ABORTED"
        assert by_recipe[first]["state"] == "DONE"
        aborted = by_recipe[middle]
        assert aborted["state"] == "ABORTED" and aborted["startTime"] > 0 and aborted["endTime"] >= aborted["startTime"]
        never = by_recipe[last]
        assert never["state"] == "NOT_STARTED" and not never["startTime"] and not never["endTime"]


def test_the_overhead_is_paid_once_per_job_not_per_activity():
    overhead_s = 0.3
    flow = chain_flow()
    chain = names(flow)[:3]
    with EmulatedDSS.start(flows=[flow], job_overhead=overhead_s) as dss:
        project = dss.client().get_project(KEY)
        job = start(project, ["ds0001", "ds0002", "ds0003"])
        assert dss.wait_for_job(KEY, job.id) == "DONE"
        base, by_recipe = activities(job)
        assert by_recipe[chain[0]]["startTime"] - base["jobStartTime"] >= overhead_s * 1000
        assert base["jobEndTime"] - by_recipe[chain[-1]]["endTime"] >= overhead_s * 1000
        log = job.get_log()
        assert log.count("Computing the job graph and preparing activities") == 1
        assert log.count("Activities over: writing the job state and cleaning up") == 1


def test_the_activity_slots_bound_the_activities_of_one_job_too():
    flow = chain_flow()
    recipes = names(flow)
    with EmulatedDSS.start(flows=[flow], activity_cap=1) as dss:
        project = dss.client().get_project(KEY)
        dss.hang_recipe(KEY, recipes[0])
        job = start(project, ["ds0001", "ds0004"])
        dss.wait_for_activity_state(KEY, job.id, f"{recipes[0]}_NP", ["RUNNING"])
        dss.wait_for_activity_state(KEY, job.id, f"{recipes[3]}_NP", ["WAITING"])
        _, by_recipe = activities(job)
        assert by_recipe[recipes[3]]["state"] == "WAITING" and not by_recipe[recipes[3]]["startTime"]
        dss.clear_faults()
        assert dss.wait_for_job(KEY, job.id) == "DONE"
        _, by_recipe = activities(job)
        assert by_recipe[recipes[3]]["startTime"] >= by_recipe[recipes[0]]["endTime"]


def test_a_recipe_with_two_listed_outputs_runs_once():
    flow = chain_flow()
    first, second = names(flow)[:2]
    flow["recipes"][0]["outputs"].append("ds0001b")
    extra = dict(next(d for d in flow["datasets"] if d["name"] == "ds0001"), name="ds0001b")
    flow["datasets"].append(extra)
    with EmulatedDSS.start(flows=[flow]) as dss:
        project = dss.client().get_project(KEY)
        job = start(project, ["ds0001", "ds0001b", "ds0002"])
        assert dss.wait_for_job(KEY, job.id) == "DONE"
        base, by_recipe = activities(job)
        assert [a["recipeName"] for a in base["activities"].values()] == [first, second]
        assert sorted(t["id"] for t in by_recipe[first]["targets"]) == [f"{KEY}.ds0001", f"{KEY}.ds0001b"]
