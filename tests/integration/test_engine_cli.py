"""The pipeline engine end to end through its command line, with the real client, on ``dss_target``.

Runs on the emulator by default and on a real instance with ``make integration-tests``; tests that inject faults are
``emulator_only``.
"""

from __future__ import annotations

import json

import pytest
from flow_orchestrator.cli import main as cli
from flow_orchestrator.record import load_record

AGGREGATIONS = ("group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG")
DOWNSTREAM = ("join_ML_TRAINING_DATA", "train_MODEL_SCORES")


@pytest.fixture
def run(dss_target, monkeypatch, tmp_path):
    """Runs the CLI against the target with the key in the environment; returns (exit code, record or None)."""
    monkeypatch.setenv("DSS_API_KEY", dss_target.api_key)

    def invoke(*args, record=True):
        path = tmp_path / f"record-{len(list(tmp_path.iterdir()))}.json"
        argv = [args[0], "--url", dss_target.url, "--project", dss_target.project_key, "--quiet", *args[1:]]
        if record:
            argv += ["--json", str(path)]
        code = cli(argv)
        return code, (json.loads(path.read_text()) if record and path.exists() else None)

    return invoke


def names(dss_target, *clinical):
    return [dss_target.name(n) for n in clinical]


def states(record):
    return {r["name"]: r["state"] for r in record["recipes"]}


def job_starts(dss_target):
    return dss_target.emulator.job_starts(dss_target.project_key) if dss_target.emulator else None


@pytest.mark.compat_smoke
def test_plan_starts_nothing_and_prints_layers(dss_target, run, capsys):
    before = job_starts(dss_target)
    code, record = run("plan", "--targets", dss_target.name("ML_TRAINING_DATA"), "--mode", "RECURSIVE_FORCED_BUILD")
    out = capsys.readouterr().out
    assert code == 0
    assert record["state"] == "PLANNED" and record["dry_run"] is True
    assert set(states(record)) == set(names(dss_target, *AGGREGATIONS, "join_ML_TRAINING_DATA"))
    assert "Layer 0" in out and "Layer 1" in out and dss_target.name("join_ML_TRAINING_DATA") in out
    assert job_starts(dss_target) == before


@pytest.mark.parametrize(
    "command",
    [("plan",), ("build", "--dry-run", "--propagate-schema-first")],
    ids=["plan", "dry-run-with-propagation-preview"],
)
def test_a_plan_no_file_keeps_prints_what_the_plan_with_its_record_prints(dss_target, run, capsys, command):
    """A dry run without ``--json``/``--html`` makes no run record (nothing would read its entry per recipe) and
    prints what the same dry run prints when ``--json`` keeps the record: the plan, and the schema-propagation
    preview when asked."""
    before = job_starts(dss_target)
    code, _ = run(*command, record=False)
    printed = capsys.readouterr()
    code_kept, record = run(*command)
    kept = capsys.readouterr()
    assert code == 0, printed.err
    assert code_kept == 0 and record["state"] == "PLANNED", kept.err
    assert printed.out == kept.out and printed.err == kept.err
    assert "Layer 0" in printed.out and dss_target.name("join_ML_TRAINING_DATA") in printed.out
    if "--propagate-schema-first" in command:
        assert record["propagation"]["results"], record["propagation"]
        assert record["propagation"]["results"][0]["summary"] in printed.out
    assert job_starts(dss_target) == before


def test_a_plan_no_file_keeps_makes_no_run_record(dss_target, run, capsys, monkeypatch):
    import flow_orchestrator.pipeline as pipeline
    import flow_orchestrator.record as record_module

    def refused(*args, **kwargs):
        raise AssertionError("a plan only printed made a run record")

    monkeypatch.setattr(pipeline, "planned_record", refused)
    monkeypatch.setattr(record_module, "new_record", refused)
    code, _ = run("plan", record=False)
    assert code == 0, capsys.readouterr().err
    assert "Layer 0" in capsys.readouterr().out


def test_plan_with_expensive_jobs_says_it_runs_one_job_for_the_whole_plan(dss_target, run, capsys):
    before = job_starts(dss_target)
    code, record = run("plan", "--job-overhead-s", "5")
    out = capsys.readouterr().out
    assert code == 0 and job_starts(dss_target) == before
    grouping = record["plan"]["grouping"]
    assert grouping["kind"] == "whole-plan" and grouping["job_overhead_s"] == 5.0
    assert record["plan"]["job_groups"] == [[r["name"] for r in record["plan"]["recipes"]]]
    assert "Grouping: one job for the whole plan: jobs cost ~5.0 s to start (set in 'DSS job start-up cost')" in out


def test_plan_learns_the_job_cost_from_an_earlier_record_given_with_learn_from(dss_target, run, capsys, tmp_path):
    """CI keeps the last run's --json: --learn-from plans with it (durations, what a DSS job costs to start)."""
    code, built = run("build")
    assert code == 0, built
    built["job_overhead"] = {"median_s": 5.0, "jobs": 3}  # as a run on an instance with slow job start-ups records
    earlier = tmp_path / "last-run.json"
    earlier.write_text(json.dumps(built), encoding="utf-8")
    before = job_starts(dss_target)
    code, record = run("plan", "--learn-from", str(earlier))
    out = capsys.readouterr().out
    assert code == 0 and job_starts(dss_target) == before
    grouping = record["plan"]["grouping"]
    assert grouping["kind"] == "whole-plan" and grouping["job_overhead_s"] == 5.0
    assert built["run_id"] in out and "one job for the whole plan" in out


def test_learn_from_a_missing_file_or_another_projects_run_is_refused_naming_the_flag(
    dss_target, run, capsys, tmp_path
):
    before = job_starts(dss_target)
    code, _ = run("build", "--learn-from", str(tmp_path / "nowhere.json"))
    err = capsys.readouterr().err
    assert code == 2 and "--learn-from" in err and "nowhere.json" in err
    code, planned = run("plan")
    assert code == 0
    planned["project_key"] = "ANOTHER"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(planned), encoding="utf-8")
    capsys.readouterr()
    code, _ = run("build", "--learn-from", str(other))
    err = capsys.readouterr().err
    assert code == 2 and "--learn-from" in err and "ANOTHER" in err and dss_target.project_key in err
    assert job_starts(dss_target) == before


def test_build_runs_aggregations_in_parallel_then_join_then_training(dss_target, run, tmp_path):
    html = tmp_path / "report.html"
    code, record = run("build", "--max-parallel", "4", "--html", str(html))
    assert code == 0, record
    assert record["state"] == "SUCCESS"
    load_record(record)  # valid against the published schema
    by_name = {r["name"]: r for r in record["recipes"]}
    lab, notes = (by_name[n] for n in names(dss_target, *AGGREGATIONS))
    join, train = (by_name[n] for n in names(dss_target, *DOWNSTREAM))
    assert lab["started_at"] < notes["ended_at"] and notes["started_at"] < lab["ended_at"], "aggregations overlap"
    assert join["started_at"] >= max(lab["ended_at"], notes["ended_at"])
    assert train["started_at"] >= join["ended_at"]
    assert all(r["attempts"] == 1 and len(r["job_ids"]) == 1 for r in record["recipes"])
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and dss_target.name("train_MODEL_SCORES") in page
    assert dss_target.api_key not in page


def test_single_job_strategy_builds_everything_in_one_job(dss_target, run):
    code, record = run(
        "build",
        "--strategy",
        "single-job",
        "--mode",
        "RECURSIVE_FORCED_BUILD",
        "--targets",
        dss_target.name("MODEL_SCORES"),
    )
    assert code == 0, record
    job_ids = {tuple(r["job_ids"]) for r in record["recipes"]}
    assert len(job_ids) == 1 and len(next(iter(job_ids))) == 1
    assert set(states(record).values()) == {"SUCCESS"}
    assert len(record["recipes"]) == 4


def test_ordered_list_that_contradicts_the_flow_is_refused_before_any_job(dss_target, run, capsys):
    before = job_starts(dss_target)
    join, lab = dss_target.name("join_ML_TRAINING_DATA"), dss_target.name("group_LAB_RESULTS_AGG")
    code, record = run("build", "--recipes", join, lab, "--ordered")
    err = capsys.readouterr().err
    assert code == 2 and record is None
    assert join in err and lab in err and "reorder" in err
    assert job_starts(dss_target) == before
    code, record = run("build", "--recipes", join, lab, "--ordered", "--reorder")
    assert code == 0 and [r["name"] for r in record["recipes"]] == [lab, join]


def test_unknown_recipe_gets_a_suggestion_and_exit_code_2(dss_target, run, capsys):
    before = job_starts(dss_target)
    code, _ = run("build", "--recipes", dss_target.name("group_LAB_RESULTS_AGG").replace("RESULTS", "RESULT"))
    err = capsys.readouterr().err
    assert code == 2
    assert "did you mean" in err.lower() and dss_target.name("group_LAB_RESULTS_AGG") in err
    assert job_starts(dss_target) == before


def test_bad_numbers_are_all_reported_at_once(dss_target, run, capsys):
    code, _ = run("build", "--max-parallel", "0", "--retries", "-1", "--timeout", "-5", "--job-overhead-s", "-1")
    err = capsys.readouterr().err
    assert code == 2
    for flag in ("--max-parallel", "--retries", "--timeout", "--job-overhead-s"):
        assert flag in err


@pytest.mark.emulator_only
@pytest.mark.compat_smoke
def test_continue_fails_one_branch_then_resume_reruns_only_the_rest(dss_target, run, tmp_path):
    emulator = dss_target.emulator
    emulator.fail_recipe(dss_target.project_key, "group_CLINICAL_NOTES_AGG", "KeyError: 'note_date'")
    try:
        code, failed = run("build", "--on-failure", "continue")
    finally:
        emulator.clear_faults()
    assert code == 1
    assert states(failed) == {
        "group_LAB_RESULTS_AGG": "SUCCESS",
        "group_CLINICAL_NOTES_AGG": "FAILED",
        "join_ML_TRAINING_DATA": "SKIPPED",
        "train_MODEL_SCORES": "SKIPPED",
    }
    by_name = {r["name"]: r for r in failed["recipes"]}
    assert "note_date" in by_name["group_CLINICAL_NOTES_AGG"]["error"]["message"]
    assert by_name["group_CLINICAL_NOTES_AGG"]["log_excerpt"]
    assert by_name["train_MODEL_SCORES"]["skipped_because"] == ["group_CLINICAL_NOTES_AGG"]

    record_file = tmp_path / "failed.json"
    record_file.write_text(json.dumps(failed))
    starts = emulator.job_starts(dss_target.project_key)
    code, resumed = run("resume", "--record", str(record_file))
    assert code == 0
    assert resumed["resumed_from"] == failed["run_id"]
    assert states(resumed) == {n: "SUCCESS" for n in ("group_CLINICAL_NOTES_AGG", *DOWNSTREAM)}
    # NOTES -> join -> train is one chain in the resumed plan: one grouped job (the default)
    assert emulator.job_starts(dss_target.project_key) == starts + 1


@pytest.mark.emulator_only
def test_transient_failure_is_retried_and_succeeds(dss_target, run):
    dss_target.emulator.fail_recipe(
        dss_target.project_key,
        "group_LAB_RESULTS_AGG",
        "ERR_SQL_DB_UNREACHABLE: connection refused by the database",
        times=1,
    )
    try:
        code, record = run("build", "--recipes", "group_LAB_RESULTS_AGG", "--retries", "2", "--retry-backoff", "0.05")
    finally:
        dss_target.emulator.clear_faults()
    assert code == 0
    (recipe,) = record["recipes"]
    assert recipe["state"] == "SUCCESS" and recipe["attempts"] == 2
    assert [a["state"] for a in recipe["attempt_history"]] == ["FAILED", "DONE"] or recipe["attempt_history"][0][
        "error"
    ]["transient"] is True


@pytest.mark.emulator_only
def test_permanent_failure_is_not_retried(dss_target, run):
    dss_target.emulator.fail_recipe(dss_target.project_key, "group_LAB_RESULTS_AGG", "KeyError: 'patient_id'")
    try:
        code, record = run("build", "--recipes", "group_LAB_RESULTS_AGG", "--retries", "3", "--retry-backoff", "0.05")
    finally:
        dss_target.emulator.clear_faults()
    assert code == 1
    (recipe,) = record["recipes"]
    assert recipe["state"] == "FAILED" and recipe["attempts"] == 1
    assert recipe["error"]["transient"] is False


@pytest.fixture
def scoring_zone(dss_target):
    """A Flow zone holding the lab aggregation, created and filled through the API (as a user would in DSS), then
    deleted, which returns its objects to the default zone on both targets."""
    flow = dss_target.project().get_flow()
    zone = flow.create_zone("FO_TEST_Scoring zone", color="#8a5cc2")
    try:
        zone.add_item(dss_target.project().get_recipe(dss_target.name("group_LAB_RESULTS_AGG")))
        yield zone
    finally:
        zone.delete()


def test_select_a_zone_with_its_downstream_from_the_command_line(dss_target, run, scoring_zone, capsys):
    code, record = run("plan", "--select", 'zone:"FO_TEST_Scoring zone"+')
    out = capsys.readouterr().out
    assert code == 0
    assert set(states(record)) == set(names(dss_target, "group_LAB_RESULTS_AGG", *DOWNSTREAM))
    scoring = [z for z in record["plan"]["zones"] if z["id"] == scoring_zone.id]
    assert scoring and scoring[0]["recipes"] == names(dss_target, "group_LAB_RESULTS_AGG")
    assert "By Flow zone" in out
    assert "FO_TEST_Scoring zone (1 recipe(s)): " + dss_target.name("group_LAB_RESULTS_AGG") in out


def test_build_a_zone_starts_only_its_recipes(dss_target, run, scoring_zone):
    before = job_starts(dss_target)
    code, record = run("build", "--select", "zone:fo_test_scoring_zone")
    assert code == 0 and states(record) == {dss_target.name("group_LAB_RESULTS_AGG"): "SUCCESS"}
    if dss_target.emulator:
        assert job_starts(dss_target) == before + 1


def test_an_unknown_zone_is_refused_with_a_suggestion(dss_target, run, scoring_zone, capsys):
    before = job_starts(dss_target)
    code, _ = run("build", "--select", "zone:FO_TEST_Scoring_zon", record=False)
    err = capsys.readouterr().err
    assert code == 2
    assert "is not a Flow zone of the project; did you mean 'FO_TEST_Scoring zone'?" in err
    assert job_starts(dss_target) == before
