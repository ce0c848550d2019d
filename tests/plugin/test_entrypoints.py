"""The entry points' plain-data rules: presets under form values, step parameters, records, step outcome."""

from __future__ import annotations

import pytest
from flow_orchestrator import history
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.events import ProgressEvent
from flow_orchestrator.history import RunHistory, compact_record
from flow_orchestrator.shells import forms
from flow_orchestrator.shells.choices import form_choices
from flow_orchestrator.shells.forms import (
    POLICY_FIELDS,
    RemoteInstance,
    merge_policy,
    raw_build_form,
    remote_instance,
    step_form,
)
from flow_orchestrator.shells.publish import failure_message, progress_reporter, report_items, scenario_variables
from flow_orchestrator.text import is_blank
from hypothesis import given
from hypothesis import strategies as st

SECRET = "dkuaps-THIS-IS-A-SECRET-KEY"

policy_values = st.fixed_dictionaries(
    {},
    optional={
        "max_parallel": st.integers(1, 64),
        "retries": st.integers(0, 10),
        "on_failure": st.sampled_from(["fail-fast", "continue"]),
        "retry_backoff_s": st.floats(0, 100),
        "timeout_minutes": st.floats(0, 100),
        "transient_patterns": st.lists(st.text(min_size=1), max_size=2),
        "keep_runs": st.integers(0, 100),
    },
)
form_values = st.fixed_dictionaries(
    {}, optional={name: st.one_of(st.none(), st.just(""), st.just([]), st.integers(0, 9)) for name in POLICY_FIELDS}
)


@given(form=form_values, policy=policy_values)
def test_a_typed_form_value_wins_and_a_blank_one_inherits_the_policy(form, policy):
    merged = merge_policy(form, policy)
    for name in POLICY_FIELDS:
        if not is_blank(form.get(name)):
            assert merged[name] == form[name]
        elif not is_blank(policy.get(name)):
            assert merged[name] == policy[name]
        else:
            assert name not in merged  # the library default applies


def test_raw_form_keeps_build_fields_only_and_drops_blank_choices():
    form = {
        "recipes": ["", "compute_a", " "],
        "select": "  ",
        "targets": [],
        "dry_run": False,
        "dss_instance": {"url": "https://x", "api_key": SECRET},
        "pipeline_policy": {"retries": 2},
        "retries": None,
        "max_parallel": 3,
    }
    raw = raw_build_form(form, forms.MACRO_FIELDS)
    assert raw == {"recipes": ["compute_a"], "dry_run": False, "retries": 2, "max_parallel": 3}


def test_step_form_takes_resolved_presets_from_the_plugin_config():
    step_config = {"recipes": ["a", "b"], "pipeline_policy": {"mode": "PRESET", "name": "nightly"}}
    plugin_config = {
        "config": {"recipes": ["a", "b"], "pipeline_policy": {"retries": 3}, "parallel": True},
        "pluginConfig": {},
    }
    form = step_form(step_config, plugin_config)
    assert form["pipeline_policy"] == {"retries": 3}
    assert form["recipes"] == ["a", "b"] and form["parallel"] is True


def test_each_user_acts_with_their_own_key_and_the_shared_one_is_only_a_fallback():
    """Per-user credentials the DSS way: DSS resolves the preset with the current user's entry under __credentials."""
    preset = {"url": "https://auto", "api_key": "shared-key", "__credentials": {"user_api_key": "alice-key"}}
    assert remote_instance({"dss_instance": preset}).api_key == "alice-key"
    assert remote_instance({"dss_instance": {**preset, "__credentials": {}}}).api_key == "shared-key"
    as_object = {"url": "https://auto", "__credentials": {"user_api_key": {"password": "bob-key"}}}
    assert remote_instance({"dss_instance": as_object}).api_key == "bob-key"
    with pytest.raises(ConfigError, match="enter your own personal API key of that instance in your profile"):
        remote_instance({"dss_instance": {"url": "https://auto", "__credentials": {"user_api_key": ""}}})


def test_an_unresolved_preset_is_a_clear_error_not_a_silent_local_run():
    with pytest.raises(ConfigError) as caught:
        remote_instance({"dss_instance": {"mode": "PRESET", "name": "automation"}})
    assert "dss_instance" in str(caught.value) and "automation" in str(caught.value)


def test_the_instance_preset_needs_url_and_key_and_never_shows_the_key():
    assert remote_instance({}) is None and remote_instance({"dss_instance": None}) is None
    with pytest.raises(ConfigError) as caught:
        remote_instance({"dss_instance": {"url": "", "api_key": ""}})
    assert [f for f, _ in caught.value.problems] == ["dss_instance.url", "dss_instance.user_api_key"]
    remote = remote_instance(
        {"dss_instance": {"url": "https://auto:11200/", "api_key": SECRET, "verify_tls": False, "project_key": "CLIN"}}
    )
    assert remote == RemoteInstance("https://auto:11200", SECRET, False, "CLIN")
    assert SECRET not in repr(remote) and SECRET not in str(remote)


def _recipe(name, state, **extra):
    base = {
        "name": name,
        "type": "grouping",
        "state": state,
        "attempts": 1 if state != "SKIPPED" else 0,
        "job_ids": [],
        "job_urls": [],
        "outputs": [{"id": name.upper(), "type": "DATASET", "project_key": None}],
        "started_at": None,
        "ended_at": None,
        "duration_s": None,
        "error": None,
        "log_excerpt": None,
        "skipped_because": [],
        "attempt_history": [],
    }
    base.update(extra)
    return base


FAILED_RECORD = {
    "run_id": "r1",
    "project_key": "CLIN",
    "state": "FAILED",
    "recipes": [
        _recipe("prep", "SUCCESS"),
        _recipe(
            "agg_a", "FAILED", attempts=3, error={"message": "Column X\nnot found", "type": "E", "transient": False}
        ),
        _recipe("agg_b", "TIMED_OUT"),
        _recipe("join", "SKIPPED", skipped_because=["agg_a", "agg_b"]),
        _recipe("train", "NOT_RUN"),
    ],
}


def test_failure_message_names_every_failed_recipe_and_its_cause():
    message = failure_message(FAILED_RECORD, variable="flow_orchestrator.last_run.nightly")
    assert message.splitlines()[0] == "2 of 5 recipes did not succeed (1 skipped, 1 not run):"
    assert "- agg_a FAILED after 3 attempts: Column X not found" in message
    assert "- agg_b TIMED_OUT: exceeded the time limit" in message
    assert "flow_orchestrator.last_run.nightly" in message and "Resume last run" in message
    assert failure_message(dict(FAILED_RECORD, state="SUCCESS")) is None
    assert failure_message(dict(FAILED_RECORD, state="PLANNED")) is None


def test_scenario_variables_and_report_items():
    values = scenario_variables(FAILED_RECORD, project_key="CLIN", variable="v")
    assert values["flow_orchestrator_failed_recipes"] == "agg_a, agg_b"
    assert values["flow_orchestrator_success_count"] == 1 and values["flow_orchestrator_skipped_count"] == 1
    assert values["flow_orchestrator_timed_out_count"] == 1 and values["flow_orchestrator_not_run_count"] == 1
    assert values["flow_orchestrator_run_record_variable"] == "v"
    items = report_items(FAILED_RECORD, project_key="CLIN")
    assert [i[2]["recipe"] for i in items] == ["prep", "agg_a", "agg_b", "join"]  # NOT_RUN has nothing to report
    assert items[3][0] == "CLIN.JOIN" and items[3][2]["message"] == "skipped because agg_a, agg_b failed"


def test_compact_record_drops_logs_and_bounds_errors():
    big = _recipe(
        "x",
        "FAILED",
        log_excerpt="log " * 1000,
        error={"message": "e" * 5000, "type": None, "transient": False},
        attempt_history=[{"attempt": 1, "error": {"message": "e" * 5000}}],
    )
    compact = compact_record({"recipes": [big], "state": "FAILED"})
    item = compact["recipes"][0]
    assert item["log_excerpt"] is None and len(item["error"]["message"]) <= 501
    assert len(item["attempt_history"][0]["error"]["message"]) <= 200
    assert big["log_excerpt"]  # the original is untouched


def test_progress_reporter_reports_finished_counts_only():
    seen = []
    on_event = progress_reporter(seen.append)
    on_event(ProgressEvent(kind="recipe_started", run_id="r", recipe="a", done=0, total=2))
    on_event(ProgressEvent(kind="recipe_finished", run_id="r", recipe="a", done=1, total=2))
    on_event(ProgressEvent(kind="run_finished", run_id="r", done=2, total=2))
    assert seen == [1, 2]
    progress_reporter(None)(ProgressEvent(kind="run_finished", run_id="r", done=2, total=2))


class _FailingClient:
    def get_project(self, key):
        raise RuntimeError("connection refused")


def test_form_choices_never_raise():
    answer = form_choices("recipes", {}, client=_FailingClient(), project_key="CLIN")
    assert answer == {"choices": [{"value": "", "label": "(could not list recipes: connection refused)"}]}
    unknown = form_choices("colour", {}, client=_FailingClient(), project_key="CLIN")
    assert unknown["choices"][0]["value"] == "" and "colour" in unknown["choices"][0]["label"]
    bad_preset = form_choices(
        "recipes", {"dss_instance": {"url": "", "api_key": SECRET}}, client=None, project_key="CLIN"
    )
    assert "URL" in bad_preset["choices"][0]["label"] and SECRET not in str(bad_preset)


def test_record_keeper_saves_at_most_every_interval():
    saved = []

    class Gateway:
        def update_variables(self, values, kind="standard"):
            saved.append((kind, sorted(values)))

    now = [0.0]
    keeper = RunHistory(Gateway(), "nightly").keeper(clock=lambda: now[0])
    keeper({"recipes": [], "state": "RUNNING"})
    keeper({"recipes": [], "state": "RUNNING"})
    now[0] += history._SAVE_EVERY_S
    keeper({"recipes": [], "state": "RUNNING"})
    assert saved == [("local", ["flow_orchestrator.last_run.nightly"])] * 2
    now[0] += history._SAVE_EVERY_S
    keeper({"recipes": [], "state": "FAILED"})  # the end is saved once, by the caller
    assert len(saved) == 2
    keeper.flush()  # ... or by flush() when the run stopped on an error
    assert len(saved) == 3
