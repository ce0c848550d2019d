"""``plan`` without --json/--html prints from the plan alone: what it prints is what the whole record would print,
secrets masked."""

from __future__ import annotations

import argparse

from flow_orchestrator.cli.build import _only_printed, _plan_text, _printed_part
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


def test_the_printed_part_prints_what_the_whole_record_prints():
    register_secret(SECRET)
    try:
        record = _planned()
        part, whole = _printed_part(record), record.to_dict()
        assert {key: part[key] for key in ("state", "propagation", "verification")} == {
            key: whole.get(key) for key in ("state", "propagation", "verification")
        }
        assert SECRET not in repr(part["propagation"])
        printed = _plan_text(part["plan"])
        assert printed == _plan_text(whole["plan"])
        assert _plan_text(record.built_plan) == printed  # what `plan` prints: from the plan, not rebuilt from its dict
        assert "built_plan" not in whole
        assert SECRET not in printed
        assert "b_*** → B" in printed
    finally:
        forget_secrets()


def test_only_a_plan_that_no_file_keeps_skips_the_whole_record():
    record = _planned()
    dry = BuildConfig(dry_run=True)
    plain = argparse.Namespace(json_path=None, html_path=None)
    assert _only_printed(plain, record, None, dry)
    assert not _only_printed(argparse.Namespace(json_path="r.json", html_path=None), record, None, dry)
    assert not _only_printed(argparse.Namespace(json_path=None, html_path="r.html"), record, None, dry)
    record.state = "SUCCESS"
    assert not _only_printed(plain, record, None, dry)
