"""`make demo`: the pipeline engine on the clinical Flow, against an embedded DSS emulator.

Three acts, each a real ``flow-orchestrator`` command over HTTP with the unmodified ``dataikuapi`` client:
the dry-run plan; a parallel build (the two aggregations overlap, then the join, then training); a night
where one aggregation fails (the independent branch goes on, downstream recipes are skipped), then a
resume that re-runs only what failed or was skipped once the cause is fixed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "python-lib"), str(ROOT)]

from flow_orchestrator.cli import main as flow_orchestrator  # noqa: E402

from dss_emulator import EmulatedDSS  # noqa: E402

FLOW = ROOT / "examples" / "flows" / "clinical.json"
OUT = ROOT / "demo-output"


def act(title: str) -> None:
    print(f"\n{'=' * 8} {title} {'=' * max(4, 70 - len(title))}", flush=True)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    with EmulatedDSS.start(flows=[FLOW]) as dss:
        os.environ["DSS_API_KEY"] = dss.api_key  # the CLI reads the key from the environment, never argv
        common = ["--url", dss.url, "--project", "CLINICAL", "--quiet"]
        print(f"DSS emulator on {dss.url} with the clinical Flow ({FLOW.relative_to(ROOT)})")

        act("1. Plan (dry run: nothing starts)")
        flow_orchestrator(["plan", *common])

        act("2. Build everything, independent branches in parallel")
        code = flow_orchestrator(
            [
                "build",
                *common,
                "--max-parallel",
                "4",
                "--json",
                str(OUT / "build.json"),
                "--html",
                str(OUT / "build.html"),
            ]
        )
        if code != 0:
            return code

        act("3. A bad night: group_CLINICAL_NOTES_AGG fails, the other branch goes on")
        dss.fail_recipe(
            "CLINICAL", "group_CLINICAL_NOTES_AGG", "Column 'note_date' cannot be parsed as a date: '31/02/2026'"
        )
        failed = flow_orchestrator(
            [
                "build",
                *common,
                "--on-failure",
                "continue",
                "--json",
                str(OUT / "failed.json"),
                "--html",
                str(OUT / "failed.html"),
            ]
        )
        print(f"(exit code {failed}: recipes failed)")

        act("4. Cause fixed: resume runs only what failed or was skipped")
        dss.clear_faults()
        code = flow_orchestrator(
            [
                "resume",
                *common,
                "--record",
                str(OUT / "failed.json"),
                "--json",
                str(OUT / "resumed.json"),
                "--html",
                str(OUT / "resumed.html"),
            ]
        )
        print(f"\nReports: {', '.join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob('*.html')))}")
        print(f"Emulator answered {dss.request_count} API requests in all.")
        return code


if __name__ == "__main__":
    sys.exit(main())
