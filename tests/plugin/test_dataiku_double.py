"""The ``dataiku`` double and the loaders keep DSS's contracts, so the plugin tests prove what DSS would do."""

from __future__ import annotations

import json

import pytest


def test_discovery_takes_exactly_one_runnable_subclass(tmp_path, dss_loader):
    load, instantiate = dss_loader
    one = tmp_path / "one.py"
    one.write_text(
        "from dataiku.runnables import Runnable\n"
        "class Macro(Runnable):\n"
        "    def __init__(self, project_key, config):\n"
        "        self.args = (project_key, config)\n"
    )
    macro = instantiate(load(one), "PK", {"a": 1}, {"b": 2})
    assert macro.args == ("PK", {"a": 1})  # the constructor's arity picks the arguments

    two = tmp_path / "two.py"
    two.write_text("from dataiku.runnables import Runnable\nclass A(Runnable): pass\nclass B(Runnable): pass\n")
    with pytest.raises(Exception, match="Multiple classes"):
        load(two)
    none = tmp_path / "none.py"
    none.write_text("from dataiku.runnables import Runnable\n")
    with pytest.raises(Exception, match="No class"):
        load(none)


def test_customstep_getters_read_the_environment_each_time(monkeypatch):
    from dataiku import customstep

    monkeypatch.setenv("DKU_PLUGIN_STEP_CONFIG", json.dumps({"recipes": ["a"]}))
    monkeypatch.setenv("DKU_PLUGIN_CONFIG", json.dumps({"config": {"recipes": ["a"]}, "pluginConfig": {}}))
    monkeypatch.setenv("DKU_CUSTOM_RESOURCE_FOLDER", "/plugin/resource")
    assert customstep.get_step_config() == {"recipes": ["a"]}
    assert customstep.get_plugin_config()["pluginConfig"] == {}
    assert customstep.get_step_resource() == "/plugin/resource"
    monkeypatch.setenv("DKU_PLUGIN_STEP_CONFIG", json.dumps({"recipes": ["b"]}))
    assert customstep.get_step_config() == {"recipes": ["b"]}


def test_scenario_records_calls_and_rejects_what_the_backend_could_not_receive():
    from dataiku import scenario

    scenario.RECORDED_CALLS.clear()
    handle = scenario.Scenario()
    handle.set_scenario_variables(count=3, names="a, b")
    handle.add_report_item("PK.ds", "NP", {"state": "SUCCESS"})
    assert scenario.recorded_variables() == {"count": 3, "names": "a, b"}
    assert scenario.recorded_report_items() == [
        {"object_ref": "PK.ds", "partition": "NP", "report_item": {"state": "SUCCESS"}}
    ]
    with pytest.raises(TypeError):
        handle.set_scenario_variables(bad=object())


def test_api_client_and_project_key_need_their_environment(monkeypatch):
    import dataiku

    for name in ("DKU_TEST_DSS_URL", "DKU_TEST_DSS_API_KEY", "DKU_CURRENT_PROJECT_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Exception, match="No DSS URL or API key"):
        dataiku.api_client()
    with pytest.raises(Exception, match="DKU_CURRENT_PROJECT_KEY"):
        dataiku.default_project_key()
    monkeypatch.setenv("DKU_TEST_DSS_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("DKU_TEST_DSS_API_KEY", "k")
    monkeypatch.setenv("DKU_CURRENT_PROJECT_KEY", "PK")
    assert dataiku.api_client().host == "http://127.0.0.1:1" and dataiku.default_project_key() == "PK"
