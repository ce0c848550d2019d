"""The "Jobs" field of the Build pipeline macro and the Run recipes step: grouped jobs, the default everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flow_orchestrator.cli import build_parser
from flow_orchestrator.config import STRATEGIES, RunOptions, parse_build_config
from flow_orchestrator.shells import forms

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTORS = {
    "macro": ROOT / "python-runnables" / "build-pipeline" / "runnable.json",
    "step": ROOT / "python-steps" / "run-recipes" / "step.json",
}
LAB, NOTES, JOIN, TRAIN = (
    "group_LAB_RESULTS_AGG",
    "group_CLINICAL_NOTES_AGG",
    "join_ML_TRAINING_DATA",
    "train_MODEL_SCORES",
)


def strategy_field(source: str) -> dict:
    params = json.loads(DESCRIPTORS[source].read_text(encoding="utf-8"))["params"]
    return next(p for p in params if p.get("name") == "strategy")


@pytest.mark.parametrize("source", sorted(DESCRIPTORS))
def test_the_jobs_field_offers_every_strategy_with_grouped_jobs_first_and_by_default(source):
    field = strategy_field(source)
    assert field["type"] == "SELECT" and field["label"] == "Jobs"
    choices = [c["value"] for c in field["selectChoices"]]
    assert sorted(choices) == sorted(STRATEGIES) and choices[0] == "grouped"
    assert [c["label"] for c in field["selectChoices"]][0] == "Grouped jobs"
    assert field["defaultValue"] == RunOptions().strategy == "grouped"
    assert "chain" in field["description"] and "one after another" in field["description"]
    fields = forms.MACRO_FIELDS if source == "macro" else forms.STEP_FIELDS
    assert "strategy" in fields


@pytest.mark.parametrize("source", ["macro", "step"])
def test_each_strategy_of_the_form_parses(source):
    for strategy in STRATEGIES:
        config = parse_build_config({"recipes": [LAB], "strategy": strategy}, source)
        assert config.options.strategy == strategy
    assert parse_build_config({"recipes": [LAB]}, source).options.strategy == "grouped"


def test_the_command_line_offers_grouped_jobs_by_default():
    parser = build_parser()
    args = parser.parse_args(["build", "--project", "P", "--strategy", "grouped"])
    assert parse_build_config(vars(args), "cli").options.strategy == "grouped"
    default = parser.parse_args(["build", "--project", "P"])
    assert parse_build_config(vars(default), "cli").options.strategy == "grouped"
    with pytest.raises(SystemExit):
        parser.parse_args(["build", "--project", "P", "--strategy", "chains"])


def test_the_step_runs_its_list_with_the_chosen_strategy(run_step, clinical_dss, project_key):
    run_step({"recipes": [LAB, NOTES, JOIN, TRAIN], "parallel": True})  # grouped: join and train in one job
    assert clinical_dss.job_starts(project_key) == 3
    local = clinical_dss.client().get_project(project_key).get_variables()["local"]
    record = json.loads(local["flow_orchestrator.last_run.run-recipes"])
    assert record["plan"]["job_groups"] == [[LAB], [NOTES], [JOIN, TRAIN]]
    assert {r["name"]: r.get("job_group") for r in record["recipes"]} == {LAB: None, NOTES: None, JOIN: 1, TRAIN: 1}

    run_step({"recipes": [LAB, NOTES, JOIN, TRAIN], "parallel": True, "strategy": "per-recipe"})
    assert clinical_dss.job_starts(project_key) == 3 + 4
