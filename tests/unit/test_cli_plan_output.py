"""A dry run prints its plan from the plan object: what the record's plan dict would print, secrets masked."""

from __future__ import annotations

from flow_orchestrator.cli.build import _plan_text
from flow_orchestrator.config import BuildConfig
from flow_orchestrator.graph import FlowGraph
from flow_orchestrator.plan import make_plan
from flow_orchestrator.record import planned_record
from flow_orchestrator.redaction import forget_secrets, register_secret

from tests.unit.flow_payloads import flow

SECRET = "tok-77aa-secret-9f"


def _planned():
    graph = FlowGraph.from_payload(flow({"a": (["src"], ["A"]), f"b_{SECRET}": (["A"], ["B"])}), project_key="PROJ")
    record = planned_record(make_plan(graph, BuildConfig(), "PROJ"), run_id="r1")
    record.propagation = {"state": "PREVIEW", "error": f"password={SECRET}"}
    return record


def test_the_printed_plan_is_the_records_plan_with_secrets_masked():
    register_secret(SECRET)
    try:
        record = _planned()
        whole = record.to_dict()
        printed = _plan_text(record.built_plan)  # what a dry run prints: from the plan, not rebuilt from its dict
        assert printed == _plan_text(whole["plan"])
        assert "built_plan" not in whole
        assert SECRET not in printed and SECRET not in repr(whole["propagation"])
        assert "b_*** → B" in printed
    finally:
        forget_secrets()
