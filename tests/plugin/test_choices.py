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


def test_pickers_follow_the_instance_preset(dss_env, ask):
    """With a DSS instance preset, the dataset and folder lists are the remote project's, not this instance's."""
    from pathlib import Path

    from dss_emulator import EmulatedDSS

    shop = Path(__file__).resolve().parents[1] / "integration" / "schema_ops" / "shop_flow.json"
    with EmulatedDSS.start(flows=[str(shop)]) as remote:
        [remote_key] = remote.client().list_project_keys()
        remote.client().get_project(remote_key).create_managed_folder("remote history")
        preset = {"url": remote.url, "__credentials": {"user_api_key": remote.api_key}, "project_key": remote_key}
        for field in ("remote_targets", "remote_source_dataset", "remote_datasets"):
            listed = {c["value"] for c in ask(field, {"dss_instance": preset})["choices"]}
            assert "ORDERS_RAW" in listed and "LAB_RESULTS" not in listed, field
        folders = ask("record_folder", {"dss_instance": preset})["choices"]
        assert folders[0]["value"] == "" and [c["label"].split(" (")[0] for c in folders[1:]] == ["remote history"]
    local = {c["value"] for c in ask("remote_datasets", {})["choices"]}
    assert "LAB_RESULTS" in local and "ORDERS_RAW" not in local


def test_with_a_preset_the_twin_pickers_are_read_not_the_local_ones():
    from flow_orchestrator.shells.forms import with_picked_objects

    local_pick = {"targets": ["LAB_RESULTS_AGG"], "remote_targets": ["ORDERS_CLEAN"], "recipes": ["r"]}
    assert with_picked_objects(local_pick)["targets"] == ["LAB_RESULTS_AGG"]
    assert with_picked_objects({**local_pick, "dss_instance": {"mode": "NONE"}})["targets"] == ["LAB_RESULTS_AGG"]
    remote = with_picked_objects({**local_pick, "dss_instance": {"url": "https://auto"}})
    assert remote["targets"] == ["ORDERS_CLEAN"] and remote["recipes"] == ["r"]
    assert with_picked_objects({"datasets": ["A"], "dss_instance": {"url": "https://auto"}})["datasets"] is None
