"""Render the README's report screenshots from the emulator in headless Chromium (``docs/*.png``).

Three real runs on the clinical Flow, through the same library calls the macros make: a build night where one
aggregation fails (continue mode), a schema-propagation preview after a column was renamed at a source, and an
output verification with one failing and one warning expectation.
Run: ``.venv/bin/python tools/screenshots.py`` (needs Debian's chromium).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "python-lib"), str(ROOT)]

from flow_orchestrator.config import BuildConfig, RunOptions  # noqa: E402
from flow_orchestrator.config.propagate import parse_propagate_config  # noqa: E402
from flow_orchestrator.config.verify import parse_verify_config  # noqa: E402
from flow_orchestrator.dss import DSSGateway  # noqa: E402
from flow_orchestrator.pipeline import run_build  # noqa: E402
from flow_orchestrator.propagate import propagate_schema  # noqa: E402
from flow_orchestrator.report import html_document, render_build_report  # noqa: E402
from flow_orchestrator.report.schema_html import render_propagation_report  # noqa: E402
from flow_orchestrator.report.verify_html import render_verification_report  # noqa: E402
from flow_orchestrator.verification import run_verification  # noqa: E402

from dss_emulator import EmulatedDSS  # noqa: E402
from tests.browser import find_chromium, screenshot  # noqa: E402

DOCS = ROOT / "docs"
FLOW = ROOT / "examples" / "flows" / "clinical.json"
SPEC = """{"version": 1, "datasets": {
  "ML_TRAINING_DATA": {"built": true, "min_rows": 50,
                       "columns": {"mode": "contains", "items": [{"name": "patient_id", "type": "string"},
                                                                 {"name": "value_avg", "type": "double"}]}},
  "MODEL_SCORES": {"not_empty": true, "min_rows": 5000,
                   "columns": {"mode": "contains", "items": [{"name": "risk_band"}]}},
  "LAB_RESULTS_AGG": {"max_rows": {"value": 10, "severity": "WARN"}}}}"""


def shoot(fragment: str, title: str, name: str, height: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html_document(fragment, title=title), encoding="utf-8")
        screenshot(page, DOCS / name, width=1200, height=height)
    print(f"wrote docs/{name}")


def main() -> int:
    if not find_chromium():
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 1
    with EmulatedDSS.start(flows=[FLOW]) as dss:
        gateway = DSSGateway(dss.client(), "CLINICAL", dss_url=dss.url)
        dss.fail_recipe(
            "CLINICAL", "group_CLINICAL_NOTES_AGG", "Column 'note_date' cannot be parsed as a date: '31/02/2026'"
        )
        record = run_build(gateway, BuildConfig(options=RunOptions(on_failure="continue"))).to_dict()
        dss.clear_faults()
        shoot(render_build_report(record, dss_url=dss.url), "Build report", "build-report-failed.png", 1150)

        run_build(gateway, BuildConfig())  # a clean build, so the verification and the preview see real data
        project = dss.client().get_project("CLINICAL")
        lab = project.get_dataset("LAB_RESULTS")
        columns = lab.get_schema()["columns"]
        renamed = [dict(c, name="result_value") if c["name"] == "value" else c for c in columns]
        renamed.append({"name": "unit", "type": "string"})
        config = parse_propagate_config({"source_dataset": "LAB_RESULTS", "preview_only": True})
        outcome = propagate_schema(gateway, config, new_source_columns=renamed)
        shoot(render_propagation_report(outcome.to_dict(), dss_url=dss.url), "Schema report", "schema-report.png", 900)

        verification = run_verification(gateway, parse_verify_config({"expectations": SPEC}))
        shoot(render_verification_report(verification.to_dict()), "Verify report", "verify-report.png", 520)
    return 0


if __name__ == "__main__":
    sys.exit(main())
