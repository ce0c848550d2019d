"""The Build pipeline macro, loaded and run the way DSS does, on the emulated clinical Flow.

The clinical Flow: two aggregations (independent), a join of both, then a training recipe.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flow_orchestrator.errors import ConfigError, SelectionError
from flow_orchestrator.record import validate_record

LAB, NOTES, JOIN, TRAIN = (
    "group_LAB_RESULTS_AGG",
    "group_CLINICAL_NOTES_AGG",
    "join_ML_TRAINING_DATA",
    "train_MODEL_SCORES",
)
RECORD_VARIABLE = "flow_orchestrator.last_run.build-pipeline"
SECRET = "emu-never-show-this-key"
CLINICAL_FLOW = str(Path(__file__).resolve().parents[2] / "examples" / "flows" / "clinical.json")


def last_record(dss, project_key) -> dict:
    text = dss.client().get_project(project_key).get_variables()["local"][RECORD_VARIABLE]
    return json.loads(text)


def states(record: dict) -> dict:
    return {r["name"]: r["state"] for r in record["recipes"]}


def test_a_run_of_the_whole_flow_reports_progress_and_keeps_its_record(run_macro, clinical_dss, project_key):
    run = run_macro({})  # nothing selected: every recipe of the Flow

    assert run.progress_target == (4, "NONE")
    assert run.progress and run.progress[-1] == 4
    assert isinstance(run.result, str) and "<" in run.result
    for name in (LAB, NOTES, JOIN, TRAIN):
        assert name in run.result
    record = last_record(clinical_dss, project_key)
    validate_record(record, source="the kept record")  # compacted, still a valid run record
    assert record["state"] == "SUCCESS" and set(states(record).values()) == {"SUCCESS"}
    assert clinical_dss.job_starts(project_key) == 3  # grouped jobs (the default): join and train share one job


def test_the_two_aggregations_overlap_on_the_timeline(run_macro, clinical_dss, project_key):
    clinical_dss.set_duration(project_key, LAB, 0.5)
    clinical_dss.set_duration(project_key, NOTES, 0.5)
    run_macro({"recipes": [LAB, NOTES]})

    runs = {r["name"]: r for r in last_record(clinical_dss, project_key)["recipes"]}
    lab, notes = runs[LAB], runs[NOTES]
    assert lab["started_at"] < notes["ended_at"] and notes["started_at"] < lab["ended_at"]  # ISO UTC strings sort


def test_a_dry_run_shows_the_plan_and_starts_nothing(run_macro, clinical_dss, project_key):
    run = run_macro({"dry_run": True, "targets": ["ML_TRAINING_DATA"], "build_mode": "RECURSIVE_FORCED_BUILD"})

    assert clinical_dss.job_starts(project_key) == 0
    assert JOIN in run.result and LAB in run.result and TRAIN not in run.result
    assert RECORD_VARIABLE not in clinical_dss.client().get_project(project_key).get_variables()["local"]


def test_fail_fast_returns_the_report_with_the_failure(run_macro, clinical_dss, project_key):
    clinical_dss.fail_recipe(project_key, LAB, "Column value is not numeric")
    run = run_macro({"on_failure": "fail-fast"})

    assert "Column value is not numeric" in run.result
    record = last_record(clinical_dss, project_key)
    validate_record(record, source="the kept record")
    assert record["state"] == "FAILED"
    assert states(record)[LAB] == "FAILED"
    assert states(record)[JOIN] in ("SKIPPED", "NOT_RUN") and states(record)[TRAIN] in ("SKIPPED", "NOT_RUN")


def test_continue_runs_the_other_branch_and_skips_what_depends_on_the_failure(run_macro, clinical_dss, project_key):
    clinical_dss.fail_recipe(project_key, LAB, "boom")
    run = run_macro({"on_failure": "continue"})

    assert run.result.index("boom") < run.result.index(NOTES)  # the failure comes first, then the rest
    record = last_record(clinical_dss, project_key)
    assert states(record) == {LAB: "FAILED", NOTES: "SUCCESS", JOIN: "SKIPPED", TRAIN: "SKIPPED"}
    join = next(r for r in record["recipes"] if r["name"] == JOIN)
    assert join["skipped_because"] == [LAB]


def test_resume_reruns_only_what_did_not_succeed(run_macro, clinical_dss, project_key):
    clinical_dss.fail_recipe(project_key, LAB, "temporary outage", times=1)
    run_macro({"on_failure": "continue"})
    first = last_record(clinical_dss, project_key)
    started_before = clinical_dss.job_starts(project_key)

    run_macro({"resume_last_run": True})

    resumed = last_record(clinical_dss, project_key)
    assert resumed["state"] == "SUCCESS" and resumed["resumed_from"] == first["run_id"]
    assert sorted(states(resumed)) == sorted([LAB, JOIN, TRAIN])  # NOTES succeeded the first time
    # NOTES is not in the resumed plan, so LAB -> join -> train is one chain: one grouped job (the default)
    assert clinical_dss.job_starts(project_key) - started_before == 1


@pytest.mark.parametrize(
    "config, error, field",
    [
        ({"max_parallel": 0}, ConfigError, "max_parallel"),
        ({"build_mode": "BUILD_EVERYTHING"}, ConfigError, "build_mode"),
        ({"recipes": ["no_such_recipe"]}, SelectionError, "no_such_recipe"),
        ({"resume_last_run": True}, ConfigError, "resume_last_run"),  # no previous run yet
    ],
)
def test_invalid_input_raises_a_clear_error_before_any_job(run_macro, clinical_dss, project_key, config, error, field):
    with pytest.raises(error) as caught:
        run_macro(config)
    assert field in str(caught.value)
    assert clinical_dss.job_starts(project_key) == 0


def test_policy_preset_fills_blank_fields_and_typed_values_override_it(run_macro, clinical_dss, project_key):
    clinical_dss.fail_recipe(project_key, LAB, "boom")
    policy = {"on_failure": "continue", "max_parallel": 2, "retries": 0}

    run_macro({"pipeline_policy": policy})
    inherited = last_record(clinical_dss, project_key)
    assert inherited["config"]["on_failure"] == "continue" and inherited["config"]["max_parallel"] == 2
    assert states(inherited)[NOTES] == "SUCCESS"

    run_macro({"pipeline_policy": policy, "on_failure": "fail-fast", "max_parallel": 1})
    overridden = last_record(clinical_dss, project_key)
    assert overridden["config"]["on_failure"] == "fail-fast" and overridden["config"]["max_parallel"] == 1


def test_links_on_the_local_instance_are_root_relative(run_macro, clinical_dss, project_key):
    """Inside DSS the client points at the backend's internal address: a link with it opens the user's own machine."""
    html = run_macro({"recipes": [LAB]}).result
    record = last_record(clinical_dss, project_key)
    [job_id] = record["recipes"][0]["job_ids"]
    assert f'href="/projects/{project_key}/jobs/{job_id}/"' in html
    assert f'href="/projects/{project_key}/flow/"' in html
    assert "127.0.0.1" not in html and "127.0.0.1" not in json.dumps(record)


def test_links_with_an_instance_preset_are_absolute(new_macro, project_key):
    from dss_emulator import EmulatedDSS

    with EmulatedDSS.start(flows=[CLINICAL_FLOW], api_key=SECRET) as remote:
        preset = {"url": remote.url, "api_key": SECRET, "verify_tls": True, "project_key": project_key}
        html = new_macro("LOCAL_PROJECT", {"dss_instance": preset, "recipes": [LAB]}).run(lambda done: None)
        [job] = remote.client().get_project(project_key).list_jobs()
        assert f'href="{remote.url}/projects/{project_key}/jobs/{job["def"]["id"]}/"' in html


def test_with_a_personal_key_the_user_acts_with_their_own_rights_not_the_shared_keys(new_macro, project_key):
    """A user who may only read the remote project cannot build there through an admin's shared key."""
    from flow_orchestrator.errors import DSSPermissionError

    from dss_emulator import EmulatedDSS

    with EmulatedDSS.start(flows=[CLINICAL_FLOW], api_key=SECRET) as remote:
        remote.add_api_key("alice-reads-only", ["READ_CONF"])
        preset = {"url": remote.url, "api_key": SECRET, "project_key": project_key}
        preset["__credentials"] = {"user_api_key": "alice-reads-only"}
        macro = new_macro("LOCAL_PROJECT", {"dss_instance": preset, "recipes": [LAB]})
        with pytest.raises(DSSPermissionError):
            macro.run(lambda done: None)
        assert remote.job_starts(project_key) == 0


def test_instance_preset_orchestrates_that_instance_and_never_shows_its_key(new_macro, project_key, caplog):
    """No local client at all (DSS's would be another instance): everything goes through the preset."""
    from dss_emulator import EmulatedDSS

    with EmulatedDSS.start(flows=[CLINICAL_FLOW], api_key=SECRET) as remote:
        preset = {"url": remote.url, "api_key": SECRET, "verify_tls": True, "project_key": project_key}
        macro = new_macro("LOCAL_PROJECT", {"dss_instance": preset, "recipes": [LAB]})
        caplog.set_level(logging.DEBUG)
        html = macro.run(lambda done: None)

        assert remote.job_starts(project_key) == 1
        variables = remote.client().get_project(project_key).get_variables()["local"]
        assert SECRET not in html and SECRET not in variables[RECORD_VARIABLE] and SECRET not in caplog.text
