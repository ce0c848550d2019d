"""resource/choices.py answered as DSS calls it: recipes in Flow order with type and outputs; never breaking the form."""

from __future__ import annotations

import pytest

LAB, NOTES, JOIN, TRAIN = (
    "group_LAB_RESULTS_AGG",
    "group_CLINICAL_NOTES_AGG",
    "join_ML_TRAINING_DATA",
    "train_MODEL_SCORES",
)


@pytest.fixture
def ask(choices_do):
    """Ask the choices script for one field, with DSS's payload shape."""

    def answer(parameter_name: str, config=None) -> dict:
        payload = {
            "parameterType": "MULTISELECT",
            "parameterName": parameter_name,
            "customChoices": [],
            "rootModel": {},
        }
        return choices_do(payload, config or {}, {}, [])

    return answer


def test_recipes_come_in_flow_order_with_type_and_outputs(dss_env, ask):
    choices = ask("recipes")["choices"]

    assert [c["value"] for c in choices][-2:] == [JOIN, TRAIN]
    assert {c["value"] for c in choices[:2]} == {LAB, NOTES}
    label = {c["value"]: c["label"] for c in choices}
    assert label[JOIN] == f"{JOIN} (join → ML_TRAINING_DATA)"
    assert label[LAB] == f"{LAB} (grouping → LAB_RESULTS_AGG)"


def test_datasets_are_listed(dss_env, ask):
    values = [c["value"] for c in ask("datasets")["choices"]]
    assert {"LAB_RESULTS", "ML_TRAINING_DATA", "MODEL_SCORES"} <= set(values)


def test_a_rejected_key_gives_a_readable_placeholder(dss_env, ask):
    dss_env.setenv("DKU_TEST_DSS_API_KEY", "wrong-key")
    answer = ask("recipes")
    assert len(answer["choices"]) == 1
    assert answer["choices"][0]["value"] == "" and answer["choices"][0]["label"].startswith("(could not list recipes")


def test_no_dss_at_all_still_answers(monkeypatch, ask):
    for name in ("DKU_TEST_DSS_URL", "DKU_TEST_DSS_API_KEY", "DKU_CURRENT_PROJECT_KEY"):
        monkeypatch.delenv(name, raising=False)
    answer = ask("recipes")
    assert answer["choices"][0]["value"] == "" and "could not list recipes" in answer["choices"][0]["label"]


def test_choices_follow_the_chosen_instance_preset(dss_env, ask, clinical_dss, project_key):
    dss_env.setenv("DKU_TEST_DSS_API_KEY", "the-local-instance-is-not-this-one")
    preset = {"url": clinical_dss.url, "api_key": clinical_dss.api_key, "project_key": project_key}
    values = [c["value"] for c in ask("recipes", {"dss_instance": preset})["choices"]]
    assert values[-1] == TRAIN
