from __future__ import annotations

import json

import jsonschema
import pytest
from flow_orchestrator import resources as resources_module
from flow_orchestrator.config import (
    BUILD_MODE_LABELS,
    BUILD_MODES,
    BuildConfig,
    RetryPolicy,
    RunOptions,
    Selection,
    config_from_dict,
    config_to_dict,
    load_schema,
    normalize_build_mode,
    parse_build_config,
    schemas_dir,
)
from flow_orchestrator.errors import ConfigError, FlowOrchestratorError
from hypothesis import given
from hypothesis import strategies as st


def problems_of(raw, source="macro"):
    with pytest.raises(ConfigError) as info:
        parse_build_config(raw, source)
    return dict(info.value.problems)


def test_empty_macro_form_gives_the_defaults():
    assert parse_build_config({}) == BuildConfig()
    assert parse_build_config(None) == BuildConfig()


def test_macro_form_as_dss_sends_it():
    raw = {
        "targets": ["LAB_RESULTS_AGG", "", None, " ML_TRAINING_DATA "],
        "recipes": [],
        "select": "tag:nightly+",
        "exclude": None,
        "build_mode": "RECURSIVE_BUILD",
        "strategy": "per-recipe",
        "max_parallel": 3.0,
        "on_failure": "continue",
        "retries": 2.0,
        "retry_backoff_s": 1.5,
        "transient_patterns": ["", "lock timeout", "  "],
        "timeout_minutes": 1.5,
        "dry_run": True,
        "resume_last_run": False,
        "reorder": None,
        "some_future_field": "ignored",
    }
    cfg = parse_build_config(raw, "macro")
    assert cfg.selection == Selection(targets=("LAB_RESULTS_AGG", "ML_TRAINING_DATA"), select=("tag:nightly+",))
    assert cfg.options == RunOptions(
        build_mode="RECURSIVE_BUILD",
        strategy="per-recipe",
        max_parallel=3,
        on_failure="continue",
        retry=RetryPolicy(retries=2, backoff_s=1.5, transient_patterns=("lock timeout",)),
        timeout_s=90.0,
    )
    assert cfg.dry_run and not cfg.resume_last_run
    assert isinstance(cfg.options.max_parallel, int) and isinstance(cfg.options.retry.retries, int)


def test_zero_timeout_means_none():
    assert parse_build_config({"timeout_minutes": 0}).options.timeout_s is None
    assert parse_build_config({"timeout": 0}, "cli").options.timeout_s is None


def test_step_config_is_an_ordered_list_and_parallel_false_means_one_slot():
    cfg = parse_build_config({"recipes": ["b", "a"], "parallel": False, "max_parallel": 8}, "step")
    assert cfg.selection.recipes == ("b", "a") and cfg.selection.ordered
    assert cfg.options.max_parallel == 1
    assert parse_build_config({"recipes": ["a"], "parallel": True, "max_parallel": 8}, "step").options.max_parallel == 8
    assert parse_build_config({"recipes": ["a"]}, "step").options.max_parallel == 4


def test_step_duplicates_are_reported():
    assert problems_of({"recipes": ["a", "b", "a"]}, "step") == {
        "recipes": "'a' is listed more than once; list each recipe once"
    }


def test_cli_arguments():
    raw = {
        "project": "CLIN",
        "targets": ["A"],
        "select": ["x+", "+y"],
        "exclude": ["z"],
        "mode": "recursive-build",
        "strategy": "single_job",
        "max_parallel": 2,
        "on_failure": "FAIL_FAST",
        "retries": 1,
        "timeout": 30.0,
        "dry_run": False,
        "all": False,
        "ordered": False,
        "url": "http://x",
        "command": "build",
    }
    cfg = parse_build_config(raw, "cli")
    assert cfg.project_key == "CLIN"
    assert cfg.selection == Selection(targets=("A",), select=("x+", "+y"), exclude=("z",))
    assert cfg.options.build_mode == "RECURSIVE_BUILD"
    assert cfg.options.strategy == "single-job" and cfg.options.on_failure == "fail-fast"
    assert cfg.options.timeout_s == 30.0


def test_cli_prefers_its_own_flags_over_a_previous_record_config():
    previous = config_to_dict(parse_build_config({"build_mode": "RECURSIVE_BUILD", "timeout_minutes": 1}))
    raw = dict(previous, mode="RECURSIVE_FORCED_BUILD", timeout=5, project="NEW")
    cfg = parse_build_config(raw, "cli")
    assert cfg.options.build_mode == "RECURSIVE_FORCED_BUILD"
    assert cfg.options.timeout_s == 5.0 and cfg.project_key == "NEW"


@pytest.mark.parametrize(
    "value, mode",
    [
        ("Build only this", "NON_RECURSIVE_FORCED_BUILD"),
        ("build all upstream", "RECURSIVE_FORCED_BUILD"),
        ("recursive missing only build", "RECURSIVE_MISSING_ONLY_BUILD"),
        ("RECURSIVE_BUILD", "RECURSIVE_BUILD"),
        ("  Missing data only ", "RECURSIVE_MISSING_ONLY_BUILD"),
    ],
)
def test_build_modes_by_api_name_or_ui_label(value, mode):
    assert normalize_build_mode(value) == mode
    assert parse_build_config({"build_mode": value}).options.build_mode == mode


def test_every_problem_is_reported_with_its_form_field():
    problems = problems_of(
        {
            "max_parallel": 0,
            "retries": "x",
            "build_mode": "FASTEST",
            "transient_patterns": ["ok", "a("],
            "on_failure": "stop",
            "timeout_minutes": -1,
            "dry_run": "maybe",
            "strategy": 3,
            "targets": "A B",
            "retry_backoff_s": 10,
            "retry_backoff_max_s": 5,
        }
    )
    assert problems == {
        "build_mode": "unknown build mode 'FASTEST'; use one of: NON_RECURSIVE_FORCED_BUILD (\"Build only this\"), "
        'RECURSIVE_BUILD ("Build only modified"), RECURSIVE_FORCED_BUILD ("Build all upstream"), '
        'RECURSIVE_MISSING_ONLY_BUILD ("Missing data only")',
        "dry_run": "must be true or false (got 'maybe')",
        "max_parallel": "must be between 1 and 100 (got 0)",
        "on_failure": "must be one of: fail-fast, continue (got 'stop')",
        "retries": "must be a whole number (got 'x')",
        "strategy": "must be one of: per-recipe, grouped, single-job (got 3)",
        "timeout_minutes": "must be at least 0 minutes (got -1)",
        "transient_patterns": "entry 2, 'a(', is not a valid regular expression (missing ), unterminated "
        "subpattern at position 1)",
        "retry_backoff_max_s": "must be at least retry_backoff_s (10) (got 5)",
    }


def test_cli_problems_name_the_flags():
    problems = problems_of(
        {"max_parallel": 500, "mode": "nope", "retries": 11, "timeout": -5, "retry_backoff_s": -1}, "cli"
    )
    assert set(problems) == {"--max-parallel", "--mode", "--retries", "--timeout", "--retry-backoff"}
    assert problems["--retries"] == "must be between 0 and 10 (got 11)"
    assert problems["--timeout"] == "must be at least 0 seconds (got -5)"


def test_non_integral_float_is_not_a_whole_number():
    assert problems_of({"max_parallel": 2.5}) == {"max_parallel": "must be a whole number (got 2.5)"}


def test_list_entries_of_the_wrong_type_are_located():
    assert problems_of({"recipes": ["a", 3]}) == {"recipes[1]": "must be text (got 3)"}


def test_all_conflicts_with_an_explicit_selection():
    assert problems_of({"all": True, "targets": ["A"]}, "cli") == {
        "--all": "'all' selects every recipe: leave targets, recipes, zones and select empty, or untick it"
    }


def test_strings_are_coerced_like_dss_and_shells_send_them():
    cfg = parse_build_config(
        {
            "max_parallel": "6",
            "dry_run": "true",
            "targets": "A, B",
            "timeout": "60",
            "transient_patterns": "deadlock\nlock wait",
        },
        "cli",
    )
    assert cfg.options.max_parallel == 6 and cfg.dry_run
    assert cfg.selection.targets == ("A", "B")
    assert cfg.options.timeout_s == 60.0
    assert cfg.options.retry.transient_patterns == ("deadlock", "lock wait")


def test_not_a_mapping_and_unknown_source():
    with pytest.raises(ConfigError, match="must be a JSON object"):
        parse_build_config(["x"])
    with pytest.raises(ValueError, match="source must be one of"):
        parse_build_config({}, "yaml")


def test_config_to_dict_is_json_and_reads_back():
    cfg = parse_build_config(
        {
            "recipes": ["b", "a"],
            "reorder": True,
            "max_parallel": 2,
            "timeout_minutes": 2,
            "transient_patterns": ["x"],
            "resume_last_run": True,
        },
        "step",
    )
    data = config_to_dict(cfg)
    assert json.loads(json.dumps(data)) == data
    assert config_from_dict(data) == cfg
    assert data["timeout_s"] == 120.0 and data["ordered"] is True


def test_the_history_folder_is_a_trimmed_id_that_reads_back_and_names_its_field():
    for source in ("macro", "step", "cli"):
        cfg = parse_build_config({"record_folder": " a1B2c3D4 "}, source)
        assert cfg.record_folder == "a1B2c3D4"
        assert config_from_dict(config_to_dict(cfg)).record_folder == "a1B2c3D4"
        assert parse_build_config({"record_folder": "  "}, source).record_folder is None
    with pytest.raises(ConfigError, match="record_folder: must be text"):
        parse_build_config({"record_folder": 7}, "step")
    with pytest.raises(ConfigError, match="--record-folder: must be text"):
        parse_build_config({"record_folder": ["a"]}, "cli")


def test_keep_runs_defaults_to_30_reads_back_and_names_its_field():
    for source in ("macro", "step", "cli"):
        assert parse_build_config({}, source).keep_runs == 30
        cfg = parse_build_config({"keep_runs": "7"}, source)  # a number as text, as some forms send it
        assert cfg.keep_runs == 7 and config_from_dict(config_to_dict(cfg)).keep_runs == 7
        assert parse_build_config({"keep_runs": 0}, source).keep_runs == 0  # keep every run
        assert parse_build_config({"keep_runs": ""}, source).keep_runs == 30  # blank: the default
    with pytest.raises(ConfigError, match=r"keep_runs: must be at least 0 \(got -1\)"):
        parse_build_config({"keep_runs": -1}, "macro")
    with pytest.raises(ConfigError, match="keep_runs: must be a whole number"):
        parse_build_config({"keep_runs": 2.5}, "step")
    with pytest.raises(ConfigError, match="--keep-runs: must be a whole number"):
        parse_build_config({"keep_runs": "all"}, "cli")


names = st.lists(st.text(alphabet="abcXYZ_0123", min_size=1, max_size=8), max_size=4, unique=True)


@given(
    targets=names,
    recipes=names,
    select=names,
    exclude=names,
    ordered=st.booleans(),
    reorder=st.booleans(),
    mode=st.sampled_from(BUILD_MODES),
    strategy=st.sampled_from(["per-recipe", "single-job"]),
    max_parallel=st.integers(1, 100),
    on_failure=st.sampled_from(["fail-fast", "continue"]),
    retries=st.integers(0, 10),
    backoff=st.floats(0, 60),
    timeout=st.one_of(st.none(), st.floats(0.5, 1e5)),
    dry_run=st.booleans(),
    resume=st.booleans(),
)
def test_config_round_trips_through_its_dict(
    targets,
    recipes,
    select,
    exclude,
    ordered,
    reorder,
    mode,
    strategy,
    max_parallel,
    on_failure,
    retries,
    backoff,
    timeout,
    dry_run,
    resume,
):
    cfg = BuildConfig(
        project_key="P",
        selection=Selection(
            targets=tuple(targets),
            recipes=tuple(recipes),
            ordered=ordered,
            reorder=reorder,
            select=tuple(select),
            exclude=tuple(exclude),
        ),
        options=RunOptions(
            build_mode=mode,
            strategy=strategy,
            max_parallel=max_parallel,
            on_failure=on_failure,
            retry=RetryPolicy(retries=retries, backoff_s=backoff, backoff_max_s=max(backoff, 120.0)),
            timeout_s=timeout,
        ),
        dry_run=dry_run,
        resume_last_run=resume,
    )
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_schema_is_a_valid_json_schema_and_validates_forms():
    schema = load_schema("build-config.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"build_mode": "RECURSIVE_BUILD", "max_parallel": 4}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"max_parallel": 0}, schema)


def test_build_mode_labels_cover_every_mode():
    assert tuple(BUILD_MODE_LABELS) == BUILD_MODES
    assert BUILD_MODE_LABELS["NON_RECURSIVE_FORCED_BUILD"] == "Build only this"


def test_schema_dir_env_override_and_clear_error_when_missing(monkeypatch, tmp_path):
    real = schemas_dir()
    (tmp_path / "build-config.schema.json").write_text((real / "build-config.schema.json").read_text())
    monkeypatch.setenv("FLOW_ORCHESTRATOR_SCHEMAS", str(tmp_path))
    assert schemas_dir() == tmp_path
    monkeypatch.delenv("FLOW_ORCHESTRATOR_SCHEMAS")
    monkeypatch.delenv("DKU_CUSTOM_RESOURCE_FOLDER", raising=False)
    monkeypatch.setattr(resources_module, "__file__", str(tmp_path / "a" / "b" / "resources.py"))
    with pytest.raises(FlowOrchestratorError, match="JSON Schemas are missing.*b/schemas.*resource/schemas"):
        schemas_dir()


def test_run_options_are_checked_once_when_parsed_and_the_runner_trusts_them():
    """Every bad run option is named (as typed) before anything runs; the runner does not check them again."""
    raw = {
        "max_parallel": 0,
        "on_failure": "sometimes",
        "retries": -1,
        "strategy": "x",
        "timeout": -1,
        "transient_patterns": ["("],
        "poll_min_s": 2,
        "poll_max_s": 1,
    }
    with pytest.raises(ConfigError) as info:
        parse_build_config(raw, source="cli")
    fields = [field for field, _ in info.value.problems]
    assert fields == [
        "--max-parallel",
        "--on-failure",
        "--retries",
        "--strategy",
        "--timeout",
        "--transient-pattern",
        "--poll-max-s",
    ]


def test_the_dss_job_start_up_cost_is_a_number_of_seconds_or_learned_when_empty():
    for source in ("macro", "step", "cli"):
        assert parse_build_config({"job_overhead_s": 3}, source).options.job_overhead_s == 3.0
        assert isinstance(parse_build_config({"job_overhead_s": 3}, source).options.job_overhead_s, float)
        assert parse_build_config({"job_overhead_s": None}, source).options.job_overhead_s is None
    assert parse_build_config({"job_overhead_s": 0}).options.job_overhead_s == 0.0  # jobs are free: chains
    assert "job_overhead_s" in problems_of({"job_overhead_s": -1})
    assert "--job-overhead-s" in problems_of({"job_overhead_s": -1}, "cli")
    config = parse_build_config({"job_overhead_s": 2.5, "strategy": "grouped"})
    assert config_from_dict(config_to_dict(config)) == config
