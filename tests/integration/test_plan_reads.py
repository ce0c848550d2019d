"""What ``plan`` reads from DSS: the Flow graph, its zones, the dataset listing; the recipe listing only when needed.

Through the CLI and the real client against the emulator; the requests are observed on ``requests``' sessions
(nothing is replaced: each request goes out as the client sends it).
"""

from __future__ import annotations

import json

import pytest
import requests
from flow_orchestrator.cli import main as cli
from flow_orchestrator.config import BuildConfig, RunOptions, Selection
from flow_orchestrator.pipeline import read_flow, run_build
from flow_orchestrator.plan import make_plan, with_job_groups

from dss_emulator import EmulatedDSS
from tests.reliability.harness import fast_clinical_flow, gateway_for

PROJECT = "CLINICAL"


@pytest.fixture(scope="module")
def dss():
    with EmulatedDSS.start(flows=[fast_clinical_flow()]) as dss:
        yield dss


@pytest.fixture
def sent(monkeypatch):
    """(method, path) of every HTTP request sent while the test runs."""
    seen = []
    original = requests.Session.send

    def send(self, request, **kwargs):
        seen.append((request.method, request.path_url.split("?")[0].rstrip("/").split("/dip/publicapi")[-1]))
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    return seen


def plan(dss, tmp_path, *selection):
    path = tmp_path / "plan.json"
    argv = ["plan", "--url", dss.url, "--api-key", dss.api_key, "--project", PROJECT, "--quiet", "--json", str(path)]
    assert cli([*argv, *selection]) == 0
    return json.loads(path.read_text())


def test_plan_reads_the_project_the_graph_the_zones_and_the_dataset_listing_only(dss, tmp_path, sent):
    record = plan(dss, tmp_path, "--all")
    assert sorted(sent) == sorted(
        [
            ("GET", f"/projects/{PROJECT}"),
            ("GET", f"/projects/{PROJECT}/flow/graph"),
            ("GET", f"/projects/{PROJECT}/flow/zones"),
            ("GET", f"/projects/{PROJECT}/datasets"),
        ]
    )
    assert [r["type"] for r in record["recipes"]] == ["grouping", "grouping", "join", "python"]  # from the graph


@pytest.mark.parametrize("selector", ["tag:nightly", "type:join", "join_ML_TRAINING_DATA+,tag:ml"])
def test_selecting_by_tag_or_type_reads_the_recipe_listing_too(dss, tmp_path, sent, selector):
    record = plan(dss, tmp_path, "--select", selector)
    assert ("GET", f"/projects/{PROJECT}/recipes") in sent
    assert record["recipes"]


def test_a_tag_exclusion_reads_the_recipe_listing(dss, tmp_path, sent):
    record = plan(dss, tmp_path, "--all", "--exclude", "tag:ml")
    assert ("GET", f"/projects/{PROJECT}/recipes") in sent
    assert "train_MODEL_SCORES" not in {r["name"] for r in record["recipes"]}


def test_the_plan_without_the_recipe_listing_is_the_plan_with_it(dss):
    gateway = gateway_for(dss, PROJECT)
    config = BuildConfig(selection=Selection(all=True), options=RunOptions(max_parallel=3), dry_run=True)
    planned = run_build(gateway, config).to_dict()["plan"]
    with_listing = with_job_groups(make_plan(read_flow(gateway), config, PROJECT))  # the listing is read
    assert with_listing.to_dict() == planned


def test_a_graph_without_recipe_types_reads_them_from_the_listing(dss, monkeypatch):
    """DSS 9 leaves ``subType`` out of the graph: the listing then gives every recipe's type."""
    gateway = gateway_for(dss, PROJECT)
    payload = gateway.flow_graph_payload()
    for node in payload["nodes"].values():
        node.pop("subType", None)
    monkeypatch.setattr(gateway, "flow_graph_payload", lambda: payload)
    record = run_build(gateway, BuildConfig(selection=Selection(all=True), dry_run=True)).to_dict()
    assert [r["type"] for r in record["recipes"]] == ["grouping", "grouping", "join", "python"]
