"""The build engine's optional steps end to end through the command line, with the real client, on ``dss_target``:
"propagate schema first" before the first job and "verify after build" on the outputs.

Tests that change a source's schema are ``emulator_only`` (a real source's schema is its data's); each restores every
schema it touched, since the target is shared by the whole session.
"""

from __future__ import annotations

import json

import pytest
from flow_orchestrator.cli import main as cli
from flow_orchestrator.record import load_record

LAB, NOTES = "group_LAB_RESULTS_AGG", "group_CLINICAL_NOTES_AGG"
CLINICAL_DATASETS = (
    "LAB_RESULTS",
    "CLINICAL_NOTES",
    "LAB_RESULTS_AGG",
    "CLINICAL_NOTES_AGG",
    "ML_TRAINING_DATA",
    "MODEL_SCORES",
)


@pytest.fixture
def run(dss_target, monkeypatch, tmp_path):
    """Runs the CLI against the target with the key in the environment; returns (exit code, record or None)."""
    monkeypatch.setenv("DSS_API_KEY", dss_target.api_key)

    def invoke(*args):
        path = tmp_path / f"record-{len(list(tmp_path.iterdir()))}.json"
        argv = [
            args[0],
            "--url",
            dss_target.url,
            "--project",
            dss_target.project_key,
            "--quiet",
            *args[1:],
            "--json",
            str(path),
        ]
        code = cli(argv)
        return code, (json.loads(path.read_text()) if path.exists() else None)

    return invoke


@pytest.fixture
def schemas(dss_target):
    """Access to the clinical datasets' schemas; every schema is put back as it was after the test."""
    project = dss_target.project()
    names = [dss_target.name(n) for n in CLINICAL_DATASETS]
    saved = {name: project.get_dataset(name).get_schema() for name in names}

    class Schemas:
        def columns(self, clinical_name):
            return project.get_dataset(dss_target.name(clinical_name)).get_schema()["columns"]

        def set_columns(self, clinical_name, columns):
            dataset = project.get_dataset(dss_target.name(clinical_name))
            dataset.set_schema(dict(dataset.get_schema(), columns=columns))

    yield Schemas()
    for name, schema in saved.items():
        project.get_dataset(name).set_schema(schema)


def job_starts(dss_target):
    return dss_target.emulator.job_starts(dss_target.project_key) if dss_target.emulator else None


def states(record):
    return {r["name"]: r["state"] for r in record["recipes"]}


def results(record):
    return {(r["dataset"], r["kind"]): r for r in record["verification"]["results"]}


@pytest.mark.compat_smoke
def test_build_then_verify_passes_and_the_record_holds_every_check(dss_target, run, tmp_path):
    lab, notes = dss_target.name("LAB_RESULTS_AGG"), dss_target.name("CLINICAL_NOTES_AGG")
    html = tmp_path / "report.html"
    code, record = run(
        "build",
        "--recipes",
        dss_target.name(LAB),
        dss_target.name(NOTES),
        "--verify",
        "--expect-columns",
        "patient_id:string",
        "--min-rows",
        "1",
        "--html",
        str(html),
    )
    assert code == 0, record
    assert record["state"] == "SUCCESS" and set(states(record).values()) == {"SUCCESS"}
    load_record(record)  # valid against the published schema, verification included
    verification = record["verification"]
    assert verification["state"] == "PASSED" and verification["counts"]["failed"] == 0
    assert set(results(record)) == {(d, k) for d in (lab, notes) for k in ("exists", "columns", "min_rows")}
    page = html.read_text(encoding="utf-8")
    assert "Output checks" in page and "All 6 output checks passed." in page
    assert dss_target.api_key not in page


def test_verify_without_expectations_checks_each_output_was_built_in_this_run(dss_target, run):
    lab = dss_target.name("LAB_RESULTS_AGG")
    code, record = run("build", "--recipes", dss_target.name(LAB), "--verify")
    assert code == 0, record
    assert record["verification"]["default_checks"] is True
    assert set(results(record)) == {(lab, "exists"), (lab, "built")}
    assert all(r["status"] == "passed" for r in record["verification"]["results"])


def test_a_failed_expectation_fails_the_run_with_exit_1(dss_target, run, capsys):
    lab = dss_target.name("LAB_RESULTS_AGG")
    code, record = run("build", "--recipes", dss_target.name(LAB), "--min-rows", "1000000")  # implies --verify
    out = capsys.readouterr().out
    assert code == 1
    assert states(record) == {dss_target.name(LAB): "SUCCESS"}  # the recipe built; its output failed the check
    assert record["state"] == "FAILED" and record["verification"]["state"] == "FAILED"
    failed = results(record)[(lab, "min_rows")]
    assert failed["status"] == "failed" and "expected at least 1000000 rows" in failed["message"]
    assert f"FAILED   {lab} min_rows" in out


def test_a_malformed_spec_exits_2_and_starts_nothing(dss_target, run, tmp_path, capsys):
    spec = tmp_path / "expectations.json"
    spec.write_text(json.dumps({"version": 1, "datasets": {"LAB_RESULTS_AGG": {"min_rows": "many"}}}))
    before = job_starts(dss_target)
    code, record = run("build", "--verify", "--expectations", str(spec))
    assert code == 2 and record is None
    assert "--expectations (datasets.LAB_RESULTS_AGG.min_rows)" in capsys.readouterr().err
    assert job_starts(dss_target) == before


def test_a_missing_spec_file_exits_2(dss_target, run, tmp_path, capsys):
    code, _ = run("build", "--expectations", str(tmp_path / "nope.json"))
    assert code == 2 and "--expectations: cannot read" in capsys.readouterr().err


@pytest.mark.emulator_only
@pytest.mark.compat_smoke
def test_propagate_first_carries_a_source_type_change_three_levels_down_then_builds(dss_target, run, schemas):
    schemas.set_columns(
        "LAB_RESULTS",
        [dict(c, type="string") if c["name"] == "test_date" else c for c in schemas.columns("LAB_RESULTS")],
    )
    before = job_starts(dss_target)
    code, record = run("build", "--propagate-schema-first", "--verify")
    assert code == 0, record
    propagation = record["propagation"]
    assert propagation["state"] == "SUCCESS" and sorted(propagation["sources"]) == ["CLINICAL_NOTES", "LAB_RESULTS"]
    assert propagation["changed_datasets"] == ["LAB_RESULTS_AGG", "ML_TRAINING_DATA"]
    [lab] = [r for r in propagation["results"] if r["source"] == "LAB_RESULTS"]
    diffs = {d["dataset"]: d["type_changed"] for d in lab["changes"]}
    assert diffs["LAB_RESULTS_AGG"] == [{"name": "test_date_max", "old": "date", "new": "string"}]
    assert diffs["ML_TRAINING_DATA"] == [{"name": "last_test_date", "old": "date", "new": "string"}]
    assert {c["name"]: c["type"] for c in schemas.columns("ML_TRAINING_DATA")}["last_test_date"] == "string"
    assert record["state"] == "SUCCESS" and set(states(record).values()) == {"SUCCESS"}
    assert job_starts(dss_target) - before == 3  # no auto-rebuild: the build's own jobs (join and train share one)
    assert record["verification"]["state"] == "PASSED"
    load_record(record)


@pytest.mark.emulator_only
def test_a_propagation_that_stops_runs_no_job_and_names_the_recipe(dss_target, run, schemas, capsys):
    schemas.set_columns("LAB_RESULTS", [c for c in schemas.columns("LAB_RESULTS") if c["name"] != "value"])
    before = job_starts(dss_target)

    code, preview = run("build", "--propagate-schema-first", "--dry-run")
    assert code == 0 and preview["state"] == "PLANNED"
    assert preview["propagation"]["state"] == "PREVIEW"
    [lab] = [r for r in preview["propagation"]["results"] if r["source"] == "LAB_RESULTS"]
    assert LAB in {b["recipe"] for b in lab["breaks"]}  # flagged before anything changed
    assert "value_avg" in [c["name"] for c in schemas.columns("LAB_RESULTS_AGG")]

    code, record = run("build", "--propagate-schema-first")
    assert code == 1
    assert record["state"] == "FAILED" and set(states(record).values()) == {"NOT_RUN"}
    assert record["propagation"]["state"] == "FAILED" and record["propagation"]["stopped_at"] == LAB
    assert f"stopped at recipe '{LAB}'" in capsys.readouterr().err
    assert job_starts(dss_target) == before
    load_record(record)
