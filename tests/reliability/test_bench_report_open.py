"""The report-opening benchmark's record tiling, so that ``make bench`` cannot rot (no timing asserted here)."""

from __future__ import annotations

from flow_orchestrator.report.html import render_build_report

from bench.report_open import tiled_record
from tests.unit.test_report_html import attempt, recipe, run_record


def test_a_tiled_record_renames_every_link_and_keeps_the_states():
    seed = run_record(
        [
            recipe("clean", "FAILED", [attempt(1, 0, 1, "FAILED")], error="boom"),
            recipe("join", "SKIPPED", skipped_because=["clean"]),
            recipe("train", "SUCCESS", [attempt(1, 0, 2, "SUCCESS")]),
        ],
        "FAILED",
    )
    seed["plan"]["recipes"] = [
        {"name": "clean", "upstream": []},
        {"name": "join", "upstream": ["clean"]},
        {"name": "train", "upstream": []},
    ]
    tiled = tiled_record(seed, 8)
    names = [r["name"] for r in tiled["recipes"]]
    assert names == [f"{n}__{k}" for k in range(3) for n in ("clean", "join", "train")][:8]
    assert [r["name"] for r in tiled["plan"]["recipes"]] == names
    assert tiled["recipes"][4]["skipped_because"] == ["clean__1"]
    assert tiled["plan"]["recipes"][4]["upstream"] == ["clean__1"]
    assert tiled["counts"]["FAILED"] == 3 and tiled["counts"]["SKIPPED"] == 3 and tiled["counts"]["SUCCESS"] == 2
    assert len({j for r in tiled["recipes"] for j in r["job_ids"]}) == 5
    assert "clean__2" in render_build_report(tiled)
