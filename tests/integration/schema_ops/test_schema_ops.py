"""Propagate schema on the emulator: the diff three levels down, the preview that changes nothing, stop_at and
mark_recipe_as_ok, the error naming the recipe where it stopped, names checked before anything changes, the CLI."""

from __future__ import annotations

import json

import pytest
from flow_orchestrator.config.propagate import parse_propagate_config
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.propagate import propagate_schema
from flow_orchestrator.report.schema_html import render_propagation_report
from flow_orchestrator.schema import PropagationError
from flow_orchestrator.shells.macros import run_propagate_macro
from schema_ops_helpers import DOWNSTREAM_OF_ORDERS_RAW, PROJECT, add_column, column_names, remove_column, schemas

THREE_LEVELS = ["ORDERS_CLEAN", "ORDERS_PREPARED", "ORDERS_ENRICHED"]


def propagate(gateway, **fields):
    fields.setdefault("preview_only", False)
    return propagate_schema(
        gateway, parse_propagate_config(fields, source="cli")
    )  # the command line's keys: a time limit


def test_a_column_added_at_a_source_reaches_three_levels_down_with_the_diff_reported(gateway, shop_dss):
    add_column(gateway, "ORDERS_RAW", "discount", "double")

    outcome = propagate(gateway, source_dataset="ORDERS_RAW", auto_rebuild=False)

    assert outcome.error is None and outcome.state == "SUCCESS"
    assert [diff.dataset for diff in outcome.changes] == THREE_LEVELS
    for diff in outcome.changes:
        assert diff.added == (("discount", "double"),) and not diff.removed and not diff.type_changed
        assert "discount" in column_names(gateway, diff.dataset)
    assert set(outcome.unchanged) == {"SEGMENT_TOTALS", "CUSTOMER_SEGMENTS"}
    assert "discount" not in column_names(gateway, "CUSTOMER_SEGMENTS")
    # The preview computed first predicted exactly these changes.
    assert [name for name in outcome.preview.changes if name != "ORDERS_RAW"] == THREE_LEVELS
    assert shop_dss.job_starts(PROJECT) == 0  # no auto-rebuild asked

    html = render_propagation_report(outcome.to_dict())
    for name in THREE_LEVELS:
        assert f'data-dataset="{name}"' in html
    actual = html[html.index('class="fo-section fo-changes"') : html.index('class="fo-section fo-predicted"')]
    assert actual.count('class="fo-diff-added" data-change="added"') == 3


def test_auto_rebuild_rebuilds_what_changed(gateway, shop_dss):
    add_column(gateway, "ORDERS_RAW", "discount", "double")

    outcome = propagate(gateway, source_dataset="ORDERS_RAW", auto_rebuild=True)

    assert outcome.error is None
    assert shop_dss.job_starts(PROJECT) >= len(THREE_LEVELS)
    rows = list(shop_dss.client().get_project(PROJECT).get_dataset("ORDERS_ENRICHED").iter_rows())
    assert rows and "discount" in column_names(gateway, "ORDERS_ENRICHED")


def test_a_removed_column_a_join_selects_is_flagged_by_the_preview_before_anything_changes(gateway, shop_dss):
    remove_column(gateway, "CUSTOMERS", "customer_name")
    before = schemas(gateway)

    outcome = propagate(gateway, source_dataset="CUSTOMERS", preview_only=True)

    assert outcome.state == "PREVIEW" and not outcome.ran
    assert outcome.preview.stops_at == "join_CUSTOMER_SEGMENTS"
    [item] = outcome.preview.breaks
    assert (item.recipe, item.column, item.input, item.usage) == (
        "join_CUSTOMER_SEGMENTS",
        "customer_name",
        "CUSTOMERS",
        "selected column",
    )
    assert outcome.preview.changes["ORDERS_ENRICHED"].removed_names == ("customer_name",)
    assert schemas(gateway) == before  # nothing changed
    assert shop_dss.job_starts(PROJECT) == 0

    html = render_propagation_report(outcome.to_dict())
    assert html.index("Recipes that would break") < html.index("Schema changes the propagation would make")
    assert "join_CUSTOMER_SEGMENTS" in html and 'data-change="removed"' in html


@pytest.mark.compat_smoke
def test_a_failed_propagation_names_the_recipe_where_it_stopped(gateway):
    remove_column(gateway, "CUSTOMERS", "customer_name")

    outcome = propagate(gateway, source_dataset="CUSTOMERS", auto_rebuild=False)

    assert outcome.state == "FAILED"
    assert outcome.error.recipe == "join_CUSTOMER_SEGMENTS" == outcome.stopped_at
    assert "stopped at recipe 'join_CUSTOMER_SEGMENTS'" in str(outcome.error)
    assert "customer_name" in str(outcome.error)
    assert "customer_name" in column_names(gateway, "CUSTOMER_SEGMENTS")


def test_the_macro_raises_the_propagation_error(gateway, shop_dss):
    remove_column(gateway, "CUSTOMERS", "customer_name")
    with pytest.raises(PropagationError, match="join_CUSTOMER_SEGMENTS"):
        run_propagate_macro(
            {"source_dataset": "CUSTOMERS", "preview_only": False, "auto_rebuild": False},
            client=shop_dss.client(),
            project_key=PROJECT,
        )


def test_stop_at_is_honoured(gateway):
    add_column(gateway, "ORDERS_RAW", "discount", "double")

    outcome = propagate(gateway, source_dataset="ORDERS_RAW", auto_rebuild=False, stop_at=["prepare_ORDERS_PREPARED"])

    assert outcome.error is None
    assert [diff.dataset for diff in outcome.changes] == ["ORDERS_CLEAN"]
    assert "discount" not in column_names(gateway, "ORDERS_PREPARED")
    assert "discount" not in column_names(gateway, "ORDERS_ENRICHED")
    assert [name for name in outcome.preview.changes if name != "ORDERS_RAW"] == ["ORDERS_CLEAN"]


def test_mark_recipe_as_ok_is_honoured(gateway):
    remove_column(gateway, "CUSTOMERS", "customer_name")

    outcome = propagate(gateway, source_dataset="CUSTOMERS", auto_rebuild=False, mark_as_ok=["join_CUSTOMER_SEGMENTS"])

    assert outcome.error is None
    assert [diff.dataset for diff in outcome.changes] == ["ORDERS_ENRICHED"]
    assert "customer_name" in column_names(gateway, "CUSTOMER_SEGMENTS")  # accepted as it is
    assert "customer_name" not in column_names(gateway, "ORDERS_ENRICHED")
    assert any(message["code"] == "RECIPE_MARKED_AS_OK" for message in outcome.messages)
    assert outcome.preview.safe  # the marked recipe is not re-derived


def test_unknown_names_are_rejected_before_anything_changes(gateway, shop_dss):
    add_column(gateway, "ORDERS_RAW", "discount", "double")
    before = schemas(gateway)
    requests = shop_dss.request_count

    with pytest.raises(ConfigError) as caught:
        propagate(
            gateway,
            source_dataset="ORDERS_RAW",
            stop_at=["prepare_ORDERS_PREPARD"],
            mark_as_ok=["join_customer_segments"],
        )

    problems = dict(caught.value.problems)
    assert "did you mean 'prepare_ORDERS_PREPARED'?" in problems["stop_at[0]"]
    assert "did you mean 'join_CUSTOMER_SEGMENTS'?" in problems["mark_as_ok[0]"]
    assert shop_dss.request_count - requests == 2  # the Flow graph and the recipe list, nothing else
    assert schemas(gateway) == before and shop_dss.job_starts(PROJECT) == 0


def test_an_unknown_source_gets_a_suggestion(gateway):
    with pytest.raises(ConfigError, match="dataset 'ORDERS_RAWW' is not in the Flow; did you mean 'ORDERS_RAW'"):
        propagate(gateway, source_dataset="ORDERS_RAWW")


def test_a_propagation_over_its_time_limit_is_aborted(gateway, shop_dss):
    add_column(gateway, "ORDERS_RAW", "discount", "double")
    shop_dss.hang_recipe(PROJECT, "sync_ORDERS_CLEAN")
    try:
        outcome = propagate(gateway, source_dataset="ORDERS_RAW", auto_rebuild=True, timeout_s=1.0)
    finally:
        shop_dss.clear_faults()
    assert outcome.state == "FAILED"
    assert "did not finish within 1 s" in str(outcome.error)


def test_recipes_downstream_only_are_listed_and_others_noted(gateway):
    add_column(gateway, "CUSTOMERS", "vip", "boolean")
    outcome = propagate(gateway, source_dataset="CUSTOMERS", preview_only=True, stop_at=["sync_ORDERS_CLEAN"])
    assert any("'sync_ORDERS_CLEAN' is not downstream of 'CUSTOMERS'" in note for note in outcome.notes)
    assert set(outcome.datasets) == {"CUSTOMERS", "ORDERS_ENRICHED", "SEGMENT_TOTALS", "CUSTOMER_SEGMENTS"}


# ------------------------------------------------------------------------------------------------ command line


def _cli(shop_dss, monkeypatch, *argv):
    from flow_orchestrator.cli import build_parser

    monkeypatch.setenv("DSS_API_KEY", shop_dss.api_key)
    parser = build_parser()
    args = parser.parse_args([argv[0], "--url", shop_dss.url, "--project", PROJECT, *argv[1:]])
    return args.handler(args)


def test_cli_propagate_preview_then_run(gateway, shop_dss, monkeypatch, tmp_path, capsys):
    add_column(gateway, "ORDERS_RAW", "discount", "double")
    html, record = tmp_path / "preview.html", tmp_path / "preview.json"
    assert (
        _cli(
            shop_dss,
            monkeypatch,
            "propagate",
            "--source",
            "ORDERS_RAW",
            "--preview",
            "--html",
            str(html),
            "--json",
            str(record),
        )
        == 0
    )
    assert json.loads(record.read_text())["state"] == "PREVIEW"
    assert "<!DOCTYPE html>" in html.read_text() or "<html" in html.read_text()
    assert "discount" not in column_names(gateway, "ORDERS_CLEAN")

    assert _cli(shop_dss, monkeypatch, "propagate", "--source", "ORDERS_RAW", "--no-auto-rebuild") == 0
    assert "discount" in column_names(gateway, "ORDERS_ENRICHED")
    assert "ORDERS_ENRICHED: + discount (double)" in capsys.readouterr().out


def test_cli_propagate_exit_codes(gateway, shop_dss, monkeypatch, capsys):
    assert _cli(shop_dss, monkeypatch, "propagate", "--source", "ORDERS_RAW", "--stop-at", "nope") == 2
    assert "--stop-at[0]: recipe 'nope' is not in the Flow" in capsys.readouterr().err
    remove_column(gateway, "CUSTOMERS", "customer_name")
    assert _cli(shop_dss, monkeypatch, "propagate", "--source", "CUSTOMERS", "--no-auto-rebuild") == 1
    assert "join_CUSTOMER_SEGMENTS" in capsys.readouterr().out


def test_downstream_sets_cover_the_flow():
    assert set(DOWNSTREAM_OF_ORDERS_RAW) >= set(THREE_LEVELS)


@pytest.mark.compat_smoke
def test_a_propagation_failing_after_its_start_answer_is_reported_failed(gateway, shop_dss):
    """Issue 12 item 1: the rebuild fails after DSS answered the start, so the plugin only learns the outcome from a
    poll; a peek never carries the result (nor the error), only the final non-peek read does."""
    add_column(gateway, "ORDERS_RAW", "discount", "double")
    shop_dss.fail_recipe(PROJECT, "sync_ORDERS_CLEAN", "disk full on the rebuild")

    outcome = propagate(gateway, source_dataset="ORDERS_RAW", auto_rebuild=True)

    assert outcome.state == "FAILED"
    assert "sync_ORDERS_CLEAN" in str(outcome.error)
    with shop_dss.state.lock:
        assert not shop_dss.state.futures  # the outcome was read with a non-peek read, which removes the future
