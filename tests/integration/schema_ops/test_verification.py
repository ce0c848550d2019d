"""Verify outputs on the emulator: each expectation kind passes and fails with a clear message, a malformed spec is
rejected with its JSON path before any request, "capture current" then verify passes on an unchanged Flow, row counts
are computed only when stale, "built within this run", the macro, and the CLI."""

from __future__ import annotations

import json
import time

import pytest
from flow_orchestrator.config.verify import parse_verify_config
from flow_orchestrator.dss.dataset_facts import VerificationGateway
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.expectations import parse_expectations
from flow_orchestrator.shells.macros import run_verify_macro
from flow_orchestrator.verification import capture_spec, run_verification, verify_outputs
from schema_ops_helpers import ALL_DATASETS, PROJECT, remove_column


def spec(datasets: dict) -> str:
    return json.dumps({"version": 1, "datasets": datasets})


def only_result(gateway, dataset: str, kind: str, value):
    result = verify_outputs(gateway, parse_expectations(spec({dataset: {kind: value}})))
    [item] = [item for item in result.results if item.kind == kind]
    return item, result


EXPECTATION_CASES = [
    # (dataset, kind, value that passes, value that fails, words the failure must contain)
    ("ORDERS_ENRICHED", "exists", True, False, "exists but is expected not to"),
    (
        "ORDERS_ENRICHED",
        "built",
        True,
        {"after": "2999-01-01T00:00:00Z"},
        "expected a build started at or after 2999-01-01T00:00:00Z; the last build started",
    ),
    (
        "ORDERS_ENRICHED",
        "columns",
        {"mode": "contains", "items": [{"name": "segment", "type": "string"}]},
        {"mode": "contains", "items": [{"name": "segment", "type": "bigint"}, {"name": "Amount"}]},
        '"segment" has type string, expected bigint',
    ),
    ("ORDERS_CLEAN", "min_rows", 60, 61, "expected at least 61 rows, found 60"),
    ("ORDERS_CLEAN", "max_rows", 60, 59, "expected at most 59 rows, found 60"),
    ("ORDERS_CLEAN", "not_empty", True, None, None),
]


@pytest.mark.parametrize("dataset, kind, good, bad, words", EXPECTATION_CASES, ids=[c[1] for c in EXPECTATION_CASES])
def test_each_expectation_kind_passes_and_fails_with_a_clear_message(gateway, dataset, kind, good, bad, words):
    passed, _ = only_result(gateway, dataset, kind, good)
    assert passed.status == "passed", passed.message
    if bad is None:
        return
    failed, result = only_result(gateway, dataset, kind, bad)
    assert failed.status == "failed" and not result.passed
    assert words in failed.message


def test_columns_failure_names_case_slips_and_extra_columns(gateway):
    failed, _ = only_result(gateway, "CUSTOMERS", "columns", [{"name": "customer_id"}, {"name": "Segment"}])
    assert 'missing column: "Segment" (found "segment": names are case-sensitive)' in failed.message
    assert 'unexpected columns: "customer_name", "segment"' in failed.message


def test_not_empty_fails_on_an_empty_dataset(gateway):
    failed, _ = only_result(gateway, "REFUNDS", "not_empty", True)
    assert failed.status == "failed" and "found 0 (the dataset is empty)" in failed.message


def test_exists_fails_for_a_missing_dataset_with_a_suggestion(gateway):
    failed, result = only_result(gateway, "ORDERS_CLEANN", "exists", True)
    assert failed.status == "failed" and "dataset ORDERS_CLEANN does not exist" in failed.message
    assert any("did you mean 'ORDERS_CLEAN'?" in note for note in result.notes)


def test_built_fails_for_a_dataset_never_built(gateway):
    failed, _ = only_result(gateway, "CUSTOMERS", "built", True)
    assert failed.status == "failed" and "no build of CUSTOMERS was found" in failed.message


@pytest.mark.compat_smoke
def test_dss_rules_are_reported_as_not_offered_on_an_instance_without_them(gateway):
    skipped, result = only_result(gateway, "ORDERS_CLEAN", "dss_rules", True)
    assert skipped.status == "skipped" and result.passed
    assert "offers no data-quality rules" in skipped.message


def test_warn_severity_fails_without_failing_the_verification(gateway):
    failed, result = only_result(gateway, "ORDERS_CLEAN", "min_rows", {"value": 1000, "severity": "WARN"})
    assert failed.status == "failed" and failed.severity == "WARN"
    assert result.passed and result.warnings


def test_a_malformed_spec_is_rejected_with_its_json_path_and_nothing_is_run(shop_dss):
    malformed = spec({"ORDERS_CLEAN": {"min_rows": -1, "columns": [{"name": "a", "typ": "int"}], "max_row": 3}})
    requests = shop_dss.request_count
    with pytest.raises(ConfigError) as caught:
        run_verify_macro(
            {"datasets": ["ORDERS_CLEAN"], "expectations": malformed}, client=shop_dss.client(), project_key=PROJECT
        )
    fields = [field for field, _ in caught.value.problems]
    assert "expectations (datasets.ORDERS_CLEAN.min_rows)" in fields
    assert "expectations (datasets.ORDERS_CLEAN.columns[0].typ)" in fields
    assert "expectations (datasets.ORDERS_CLEAN.max_row)" in fields
    assert 'did you mean "max_rows"?' in str(caught.value)
    assert shop_dss.request_count == requests


def test_invalid_json_names_line_and_column(shop_dss):
    with pytest.raises(ConfigError, match=r"expectations: not valid JSON: .* at line 1, column"):
        parse_verify_config({"expectations": '{"version": 1, "datasets": {'})


@pytest.mark.compat_smoke
def test_capture_current_then_verify_passes_on_an_unchanged_flow(gateway):
    text = capture_spec(gateway, ALL_DATASETS)
    captured = json.loads(text)
    assert set(captured["datasets"]) == set(ALL_DATASETS)
    assert captured["datasets"]["ORDERS_CLEAN"]["min_rows"] == 30  # 60 rows, 50% tolerance

    outcome = run_verification(gateway, parse_verify_config({"expectations": text}))

    assert outcome.state == "PASSED", [item.message for item in outcome.result.failures]
    assert outcome.result.counts["failed"] == 0 and outcome.result.counts["passed"] > len(ALL_DATASETS)


def test_capture_then_verify_catches_a_schema_change(gateway):
    text = capture_spec(gateway, ["CUSTOMERS"])
    remove_column(gateway, "CUSTOMERS", "customer_name")
    result = run_verification(gateway, parse_verify_config({"expectations": text})).result
    [failure] = result.failures
    assert failure.kind == "columns" and 'missing column: "customer_name"' in failure.message


def test_capture_of_an_unknown_dataset_is_rejected(gateway):
    with pytest.raises(ConfigError, match="dataset 'ORDERS_RAWW' does not exist in project SHOP; did you mean"):
        capture_spec(gateway, ["ORDERS_RAWW"])


def test_row_counts_are_computed_only_when_missing_or_older_than_the_last_build(gateway, shop_dss):
    reads = VerificationGateway(gateway)
    build = reads.last_build("ORDERS_CLEAN")
    assert reads.row_count("ORDERS_CLEAN", build) == (60, False, True)  # never measured: computed
    assert reads.row_count("ORDERS_CLEAN", build) == (60, False, False)  # fresh: read as is
    shop_dss.client().get_project(PROJECT).get_dataset("ORDERS_CLEAN").build()
    assert reads.row_count("ORDERS_CLEAN", reads.last_build("ORDERS_CLEAN")) == (60, False, True)  # stale


def test_a_fresh_count_is_read_by_its_computed_stamp_not_recounted(gateway, shop_dss):
    """DSS stamps a metric's value points with ``computed``: a count newer than the last build is used as is."""
    shop_dss.client().get_project(PROJECT).get_dataset("ORDERS_CLEAN").compute_metrics(
        metric_ids=["records:COUNT_RECORDS"]
    )
    reads = VerificationGateway(gateway)
    assert reads.row_count("ORDERS_CLEAN", reads.last_build("ORDERS_CLEAN")) == (60, False, False)
    assert not reads.notes


def test_a_count_slower_than_the_http_time_out_gets_its_own_time_limit(shop_dss):
    """DSS answers computeMetricsFromIds once it has counted: minutes on large data, not a transient failure."""
    from flow_orchestrator.dss import DSSGateway

    short = DSSGateway(shop_dss.client(), PROJECT, timeout_s=0.3)
    shop_dss.set_count_speed(60)  # ORDERS_CLEAN's 60 rows take one second to count
    reads = VerificationGateway(short)
    assert reads.row_count("ORDERS_CLEAN", reads.last_build("ORDERS_CLEAN")) == (60, False, True)


def test_a_count_over_its_time_limit_is_noted_and_the_last_value_used(shop_dss):
    from flow_orchestrator.dss import DSSGateway

    shop_dss.set_count_speed(6)  # ten seconds for 60 rows, over the 0.5 s limit below
    reads = VerificationGateway(DSSGateway(shop_dss.client(), PROJECT), metric_timeout_s=0.5)
    assert reads.row_count("ORDERS_CLEAN", reads.last_build("ORDERS_CLEAN")) == (None, False, False)
    assert "within 0.5 s (the count time limit)" in reads.notes[0]
    assert "did not finish counting the rows" in reads.notes[0] and "ORDERS_CLEAN" in reads.notes[0]


def test_a_read_only_user_gets_the_last_count_said_to_be_maybe_stale():
    """Computing metrics needs Write project content on DSS: the Verify macro declares Read project content only."""
    from flow_orchestrator.dss import DSSGateway
    from schema_ops_helpers import SHOP_FLOW

    from dss_emulator import EmulatedDSS

    with EmulatedDSS.start(flows=[str(SHOP_FLOW)], read_only_api_key="reader") as dss:
        dataset = dss.client().get_project(PROJECT).get_dataset("ORDERS_CLEAN")
        dataset.compute_metrics(metric_ids=["records:COUNT_RECORDS"])
        dataset.build()  # the count is now older than the last build
        reads = VerificationGateway(DSSGateway(dss.client("reader"), PROJECT))
        assert reads.row_count("ORDERS_CLEAN", reads.last_build("ORDERS_CLEAN")) == (60, True, False)
    [note] = reads.notes
    assert "may not compute metrics" in note and "Write project content" in note and "may be stale" in note


def test_verify_after_build_checks_builds_within_the_run(gateway, shop_dss):
    run_started_at_ms = int(time.time() * 1000)
    shop_dss.client().get_project(PROJECT).get_dataset("ORDERS_CLEAN").build()
    expectations = parse_expectations(
        spec({"ORDERS_CLEAN": {"built": {"within_run": True}}, "CUSTOMER_SEGMENTS": {"built": {"within_run": True}}})
    )

    result = verify_outputs(gateway, expectations, run_started_at_ms)

    by_dataset = {item.dataset: item for item in result.results}
    assert by_dataset["ORDERS_CLEAN"].status == "passed"
    assert by_dataset["CUSTOMER_SEGMENTS"].status == "failed"
    assert "expected a build during this run" in by_dataset["CUSTOMER_SEGMENTS"].message


def test_the_macro_reports_failures_first(shop_dss):
    html = run_verify_macro(
        {"datasets": ["ORDERS_CLEAN", "CUSTOMERS"], "expected_columns": ["amount:double"], "min_rows": 10},
        client=shop_dss.client(),
        project_key=PROJECT,
    )
    assert "1 of 6 expectations failed" in html
    first_row = html.index('class="fo-expectation')
    assert html.index('data-state="FAILED"') == html.index("data-state=", first_row)
    assert "missing column: &#34;amount&#34;" in html or "missing column: &quot;amount&quot;" in html


def test_the_macro_captures(shop_dss):
    html = run_verify_macro(
        {"datasets": ["ORDERS_CLEAN"], "capture_current": True}, client=shop_dss.client(), project_key=PROJECT
    )
    assert "Expectations spec" in html and "&#34;ORDERS_CLEAN&#34;" in html


# ------------------------------------------------------------------------------------------------ command line


def _cli(shop_dss, monkeypatch, *argv):
    from flow_orchestrator.cli import build_parser

    monkeypatch.setenv("DSS_API_KEY", shop_dss.api_key)
    parser = build_parser()
    args = parser.parse_args([argv[0], "--url", shop_dss.url, "--project", PROJECT, *argv[1:]])
    return args.handler(args)


def test_cli_capture_then_verify(shop_dss, monkeypatch, tmp_path, capsys):
    captured = tmp_path / "expectations.json"
    assert (
        _cli(shop_dss, monkeypatch, "verify", "--datasets", "ORDERS_CLEAN", "CUSTOMERS", "--capture", str(captured))
        == 0
    )
    assert set(json.loads(captured.read_text())["datasets"]) == {"ORDERS_CLEAN", "CUSTOMERS"}
    report = tmp_path / "verify.html"
    assert _cli(shop_dss, monkeypatch, "verify", "--expectations", str(captured), "--html", str(report)) == 0
    assert "PASSED" in capsys.readouterr().out and "All " in report.read_text()


def test_cli_verify_exit_codes(shop_dss, monkeypatch, tmp_path, capsys):
    assert _cli(shop_dss, monkeypatch, "verify", "--datasets", "ORDERS_CLEAN", "--min-rows", "1000") == 1
    assert "expected at least 1000 rows, found 60" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(spec({"ORDERS_CLEAN": {"min_rows": "many"}}))
    assert _cli(shop_dss, monkeypatch, "verify", "--expectations", str(bad)) == 2
    assert "--expectations (datasets.ORDERS_CLEAN.min_rows)" in capsys.readouterr().err
    assert _cli(shop_dss, monkeypatch, "verify", "--expectations", str(tmp_path / "missing.json")) == 2
