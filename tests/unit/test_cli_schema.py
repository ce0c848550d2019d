"""The ``propagate`` and ``verify`` sub-commands: argument wiring and bad input exiting with 2 before any request."""

from __future__ import annotations

import argparse

import pytest
from flow_orchestrator.cli.schema_ops import add_commands, run_propagate_command, run_verify_command


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="flow-orchestrator")
    add_commands(root.add_subparsers(dest="command"))
    return root


def test_propagate_arguments_and_handler():
    args = parser().parse_args(
        [
            "propagate",
            "--source",
            "RAW",
            "--stop-at",
            "a",
            "b",
            "--mark-as-ok",
            "c",
            "--no-auto-rebuild",
            "--preview",
            "--partition",
            "day=1",
        ]
    )
    assert args.handler is run_propagate_command
    assert (args.source, args.stop_at, args.mark_as_ok, args.no_auto_rebuild, args.preview, args.partition) == (
        "RAW",
        ["a", "b"],
        ["c"],
        True,
        True,
        ["day=1"],
    )


def test_verify_arguments_and_handler():
    args = parser().parse_args(
        ["verify", "--datasets", "A", "B", "--columns", "id", "x:int", "--min-rows", "3", "--capture", "out.json"]
    )
    assert args.handler is run_verify_command
    assert (args.datasets, args.columns, args.min_rows, args.capture) == (["A", "B"], ["id", "x:int"], 3, "out.json")


def test_propagate_needs_a_source():
    with pytest.raises(SystemExit):
        parser().parse_args(["propagate"])


def test_bad_input_exits_with_2_and_names_the_flag(monkeypatch, capsys):
    monkeypatch.delenv("DSS_URL", raising=False)
    monkeypatch.delenv("DSS_API_KEY", raising=False)
    args = parser().parse_args(["propagate", "--source", "RAW", "--stop-at", "a", "--mark-as-ok", "a"])
    assert args.handler(args) == 2
    assert "--mark-as-ok: recipe 'a' is also in --stop-at" in capsys.readouterr().err
    args = parser().parse_args(["verify", "--datasets", "A"])
    assert args.handler(args) == 2
    assert "--url: no DSS URL" in capsys.readouterr().err


def test_an_unreadable_spec_file_exits_with_2(tmp_path, capsys):
    args = parser().parse_args(["verify", "--expectations", str(tmp_path / "nope.json")])
    assert args.handler(args) == 2
    assert "--expectations: cannot read" in capsys.readouterr().err


def test_a_bad_time_limit_exits_with_2_before_any_request_and_names_the_flag(capsys):
    args = parser().parse_args(["propagate", "--source", "RAW", "--timeout", "0"])
    assert args.handler(args) == 2
    assert "--timeout: must be more than 0 seconds (got 0.0)" in capsys.readouterr().err
