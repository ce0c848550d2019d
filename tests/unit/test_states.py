"""Recipe and run states, defined once: values are the record's strings, and the named sets say what they mean."""

from __future__ import annotations

import json

from flow_orchestrator.states import (
    DID_NOT_RUN,
    FAILED_BY_ITSELF,
    FAILED_OR_ABORTED,
    FINAL_RUN_STATES,
    RECIPE_STATES,
    RESUMABLE,
    SHOWN_ORDER,
    RecipeState,
    RunState,
)


def test_states_are_the_record_strings_whatever_the_formatting():
    assert RecipeState.FAILED == "FAILED" and f"{RecipeState.FAILED}" == "FAILED" and str(RunState.PLANNED) == "PLANNED"
    assert json.dumps([RecipeState.TIMED_OUT, RunState.CANCELLED]) == '["TIMED_OUT", "CANCELLED"]'
    assert "FAILED" in FAILED_BY_ITSELF and RecipeState.FAILED in FAILED_BY_ITSELF


def test_the_named_sets_partition_the_recipe_states_as_documented():
    assert RECIPE_STATES == ("SUCCESS", "FAILED", "TIMED_OUT", "ABORTED", "SKIPPED", "NOT_RUN")
    assert FAILED_BY_ITSELF == {"FAILED", "TIMED_OUT"}  # the report's failure list, the fail-fast trigger
    assert FAILED_OR_ABORTED == FAILED_BY_ITSELF | {"ABORTED"}  # the step's message, ..._failed_recipes
    assert DID_NOT_RUN == {"SKIPPED", "NOT_RUN"}
    assert RESUMABLE == set(RECIPE_STATES) - {"SUCCESS"} == FAILED_OR_ABORTED | DID_NOT_RUN
    assert FINAL_RUN_STATES == {"SUCCESS", "FAILED", "CANCELLED"}
    assert SHOWN_ORDER == RECIPE_STATES + ("RUNNING",)
