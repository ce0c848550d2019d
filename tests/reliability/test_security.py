"""Security: injected markup is escaped in every HTML output, secrets never leave the run, permissions are declared.

**Escaping.** A project whose recipe and dataset names, column names, error messages, error types and job logs carry
script, attribute-breaking and ``</style>`` payloads is built, planned, previewed and verified; every HTML output
(build report on success, failure and dry run, plan report, schema preview, verification report, the macros'
returned HTML and the command line's ``--html`` page) is parsed (no injected element or handler, the payload shown as
text) and loaded in headless Chromium (no payload runs, nothing hides or escapes the page's layout).

Names cannot hold ``.``, whitespace, ``/`` or ``\\`` (the flow file refuses them: a dot separates a project key, and
``/ # ?`` could not travel in the API's URLs), so name payloads are the same attacks without those characters;
messages, error types, logs and column names carry the full payloads.

**Secrets.** Builds run with a distinctive API key while failing recipes report messages and logs holding
``"apiKey": "<key>"``, ``Authorization: Basic <token>`` and ``X-DKU-APITicket: <ticket>``; the run records, reports,
saved project variables, scenario variables, report items, command-line output, DEBUG logs and exception messages are
scanned: the key, its Basic token and the ticket appear nowhere.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List

import pytest
from flow_orchestrator import cli
from flow_orchestrator.errors import DSSAccessError, FlowOrchestratorError, RecipesFailed
from flow_orchestrator.pipeline import run_build
from flow_orchestrator.report import render_build_report, render_plan_report
from flow_orchestrator.shells.macros import run_build_macro, run_propagate_macro, run_verify_macro
from flow_orchestrator.shells.steps import run_recipes_step

from dss_emulator import EmulatedDSS
from tests.browser import dump_dom, requires_chromium
from tests.reliability.harness import (
    CLINICAL,
    JOIN,
    LAB,
    NOTES,
    READ_ONLY_KEY,
    ROOT,
    TRAIN,
    build_config,
    fast_clinical_flow,
    gateway_for,
    run_pipeline,
)

pytestmark = pytest.mark.emulator_only

# ------------------------------------------------------------------------------------------------ payloads

P_SCRIPT = "<script>document.title='XSS'</script>"
P_IMG = '"><img src=x onerror="document.title=\'XSS\'">'
P_STYLE = "</style><b id=esc>x</b>"
MESSAGE = f"Recipe crashed: {P_SCRIPT} {P_IMG} {P_STYLE}"
ERROR_TYPE = f"com.example.Boom{P_IMG}"

PROJECT = "XSSPROJ"
SRC = "SRC_\"'><u>src<u>"
R_A, DS_A = 'sync_"><u>XSS-recipe<u>', "DS_<script>document['title']='XSS'<script>"
R_B, DS_B = "<script>document['title']='XSS'<script>", "DS_\"'><u>ds<u>&amp;"
R_C, DS_C = "sty<style>*{display:none!important}<style>", "DS_C_<style>*{display:none}<style>"
COLUMN = P_STYLE
NEW_COLUMN = P_SCRIPT
ZONE_A, ZONE_B = f"Zone {P_IMG}", f"Zone {P_STYLE} {P_SCRIPT}"  # Flow zone names may hold spaces
NAME_PAYLOADS = (SRC, R_A, DS_A, R_B, DS_B, R_C, DS_C, ZONE_A, ZONE_B)
PAYLOADS_TRIED = (P_SCRIPT, P_IMG, P_STYLE, ERROR_TYPE) + NAME_PAYLOADS

#: Elements no report uses: any of them in an output means a payload became markup.
FORBIDDEN_TAGS = {"script", "img", "iframe", "object", "embed", "u", "b", "form", "input", "link", "base"}


def payload_flow() -> dict:
    flow = {
        "projectKey": PROJECT,
        "name": f"Payload project {P_SCRIPT}",
        "datasets": [
            {
                "name": SRC,
                "type": "Filesystem",
                "managed": False,
                "schema": [{"name": "id", "type": "string"}, {"name": COLUMN, "type": "string"}],
                "rows": [["a", P_SCRIPT], ["b", P_IMG]],
            },
            {"name": DS_A},
            {"name": DS_B},
            {"name": DS_C},
        ],
        "recipes": [
            {"name": R_A, "type": "sync", "inputs": [SRC], "outputs": [DS_A], "emulation": {"duration": 0.01}},
            {"name": R_B, "type": "sync", "inputs": [SRC], "outputs": [DS_B], "emulation": {"duration": 0.01}},
            {"name": R_C, "type": "sync", "inputs": [DS_B], "outputs": [DS_C], "emulation": {"duration": 0.01}},
        ],
        "zones": [{"name": ZONE_A, "color": "#4f8ad6"}, {"name": ZONE_B}],
    }
    for recipe, zone in zip(flow["recipes"], (ZONE_A, ZONE_B, ZONE_B)):
        recipe["zone"] = zone
    return flow


class _Document(HTMLParser):
    """Elements (tag, attributes), the text a person reads, and the text of ``style`` elements."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: List[tuple] = []
        self.text: List[str] = []
        self.styles: List[str] = []
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        (self.styles if self._in_style else self.text).append(data)

    @property
    def visible_text(self) -> str:
        return "".join(self.text)


@pytest.fixture(scope="module")
def payload_dss():
    with EmulatedDSS.start(flows=[payload_flow()]) as dss:
        yield dss


@pytest.fixture(scope="module")
def html_outputs(payload_dss, tmp_path_factory) -> Dict[str, str]:
    """Every HTML output of the plugin, produced from real runs of the payload project."""
    dss = payload_dss
    folder = tmp_path_factory.mktemp("xss")
    outputs: Dict[str, str] = {}
    success = run_pipeline(dss, PROJECT, build_config(), folder / "success.json")
    assert success.data["state"] == "SUCCESS", success.states()
    outputs["build report, success"] = render_build_report(success.data, dss_url=dss.url)

    dry = run_build(gateway_for(dss, PROJECT), build_config(dry_run=True)).to_dict()
    outputs["build report, dry run"] = render_build_report(dry, dss_url=dss.url)
    outputs["plan report"] = render_plan_report(dry["plan"])

    dss.fail_recipe(PROJECT, R_B, MESSAGE, error_type=ERROR_TYPE)
    failed = run_pipeline(dss, PROJECT, build_config(on_failure="continue"), folder / "failed.json")
    assert failed.states() == {R_A: "SUCCESS", R_B: "FAILED", R_C: "SKIPPED"}
    assert P_STYLE in (failed.recipe(R_B)["log_excerpt"] or ""), "the job log did not carry the payload"
    outputs["build report, failure"] = render_build_report(failed.data, dss_url=dss.url)
    outputs["build macro, failure"] = run_build_macro(
        {"on_failure": "continue"}, {}, client=dss.client(), project_key=PROJECT
    )
    outputs["build macro, dry run"] = run_build_macro({"dry_run": True}, {}, client=dss.client(), project_key=PROJECT)
    history = dss.client().get_project(PROJECT).create_managed_folder("Run history")
    run_build_macro(
        {"on_failure": "continue", "record_folder": history.id}, {}, client=dss.client(), project_key=PROJECT
    )
    outputs["run history folder page"] = _folder_text(history, "report.html")

    html_file = folder / "cli-report.html"
    code = cli.main(
        [
            "build",
            "--url",
            dss.url,
            "--api-key",
            dss.api_key,
            "--project",
            PROJECT,
            "--on-failure",
            "continue",
            "--quiet",
            "--html",
            str(html_file),
        ]
    )
    assert code == cli.EXIT_FAILED
    outputs["command line --html page"] = html_file.read_text(encoding="utf-8")
    dss.clear_faults()

    outputs["verify macro"] = run_verify_macro(
        {"datasets": [SRC, DS_A], "expected_columns": [f"{NEW_COLUMN}:string", COLUMN], "min_rows": 1000},
        {},
        client=dss.client(),
        project_key=PROJECT,
    )
    source = dss.client().get_project(PROJECT).get_dataset(SRC)
    schema = source.get_schema()
    schema["columns"].append({"name": NEW_COLUMN, "type": "string"})
    source.set_schema(schema)
    outputs["propagate macro, preview"] = run_propagate_macro(
        {"source_dataset": SRC, "preview_only": True}, {}, client=dss.client(), project_key=PROJECT
    )
    # Only the builds start jobs: grouped jobs (the default) run R_A alone and the chain R_B -> R_C as one job, on
    # success and in each failing build (R_B fails inside it, R_C is skipped).
    assert dss.job_starts(PROJECT) == 2 + 4 * 2
    return outputs


def _folder_text(folder, suffix: str = "") -> str:
    """The files of a managed folder whose path ends with ``suffix``, concatenated."""
    texts = []
    for item in folder.list_contents()["items"]:
        if item["path"].endswith(suffix):
            with folder.get_file(item["path"]) as response:
                texts.append(response.content.decode("utf-8"))
    assert texts, f"no {suffix or 'file'} in the folder"
    return "\n".join(texts)


OUTPUT_NAMES = [
    "build report, success",
    "build report, dry run",
    "plan report",
    "build report, failure",
    "build macro, failure",
    "build macro, dry run",
    "command line --html page",
    "run history folder page",
    "verify macro",
    "propagate macro, preview",
]
#: Outputs that are whole pages (checked in the browser as they are, not as fragments of one page).
DOCUMENTS = ("command line --html page", "run history folder page")
#: What each output must show as text (escaped, not dropped): names, and the failure's message.
SHOWN = {
    "build report, success": (R_A, R_B, R_C, DS_B, ZONE_A, ZONE_B),  # DS_B holds "&amp;": shown as typed
    "build report, dry run": (R_A, R_B, R_C, ZONE_A, ZONE_B),
    "plan report": (R_A, R_B, R_C, ZONE_A, ZONE_B),
    "build report, failure": (R_B, R_C, "document.title='XSS'", "<b id=esc>x</b>", ZONE_B),
    "build macro, failure": (R_B, R_C, "document.title='XSS'", "<b id=esc>x</b>"),
    "build macro, dry run": (R_A, R_B, R_C),
    "command line --html page": (R_B, R_C, "document.title='XSS'"),
    "run history folder page": (R_B, R_C, "document.title='XSS'", "<b id=esc>x</b>"),
    "verify macro": (SRC, DS_A, NEW_COLUMN),
    "propagate macro, preview": (SRC, NEW_COLUMN),
}


@pytest.mark.parametrize("name", OUTPUT_NAMES)
def test_html_output_escapes_every_payload(html_outputs, name):
    html = html_outputs[name]
    doc = _Document(html)
    tags = [tag for tag, _ in doc.elements]
    assert not FORBIDDEN_TAGS & set(tags), f"injected elements: {sorted(FORBIDDEN_TAGS & set(tags))}"
    handlers = [(tag, key) for tag, attrs in doc.elements for key in attrs if key.lower().startswith("on")]
    assert not handlers, f"event handler attributes: {handlers}"
    assert not [a for _, a in doc.elements if a.get("id") == "esc"]
    links = [a.get("href") or "" for tag, a in doc.elements if tag == "a"]
    # absolute http(s), in-page, or root-relative DSS paths (the local instance's links): never another scheme
    assert all(
        link.startswith(("http://", "https://", "#")) or (link.startswith("/") and not link.startswith("//"))
        for link in links
    ), links
    assert not any(char in link for link in links for char in "\"'<> "), links
    assert tags.count("style") <= 1, "a payload opened a style element"
    assert not any("display:none}" in s or "esc" in s or "XSS" in s for s in doc.styles), "payload inside the CSS"
    for text in SHOWN[name]:
        assert text in doc.visible_text, f"{text!r} is not shown as text in the {name}"


#: Appended after the reports: a canary proves scripts run here, a probe reports what a payload could have changed.
PROBE = """<p id="after">after the reports</p>
<pre id="probe"></pre>
<script>
document.body.setAttribute("data-canary", "ran");
var after = document.getElementById("after");
var reports = Array.prototype.slice.call(document.querySelectorAll(".fo-report"));
document.getElementById("probe").textContent = JSON.stringify({
  title: document.title,
  scripts: document.scripts.length,
  injected: document.querySelectorAll("#esc, u, b, img, iframe").length,
  afterDisplay: getComputedStyle(after).display,
  afterHeight: after.getBoundingClientRect().height,
  afterFont: getComputedStyle(after).fontSize,
  reports: reports.length,
  hidden: reports.filter(function (r) { return r.getBoundingClientRect().height < 20; })
                 .map(function (r) { var s = r.closest("section"); return s ? s.getAttribute("data-name") : "page"; })
});
</script>
"""
TITLE = "fo-security-test"


class _Probe(HTMLParser):
    """The dumped DOM: body attributes, the final title (handlers that fire late change it too), the probe's JSON."""

    def __init__(self, dom: str):
        super().__init__(convert_charrefs=True)
        self.body: dict = {}
        self.title = ""
        self.text = ""
        self._in = None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        first_title = tag == "title" and not self.title  # the page's own, not the report's SVG titles
        self._in = "probe" if attrs.get("id") == "probe" else ("title" if first_title else None)

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "probe":
            self.text += data
        elif self._in == "title":
            self.title += data


def _check_in_browser(page: Path) -> dict:
    probe = _Probe(dump_dom(page))
    assert probe.body.get("data-canary") == "ran", "the page's own script did not run: a report broke the page"
    result = json.loads(probe.text)
    assert probe.title == TITLE, f"an injected handler ran after the page loaded (title {probe.title!r})"
    assert result["title"] == TITLE, f"an injected script ran (title {result['title']!r})"
    assert result["scripts"] == 1 and result["injected"] == 0, result
    assert result["afterDisplay"] == "block" and result["afterHeight"] > 0, "a payload hid the rest of the page"
    assert result["afterFont"] == "16px", "a payload restyled the page around the reports"
    assert result["hidden"] == [], f"reports hidden by a payload: {result['hidden']}"
    return result


@pytest.mark.browser
@requires_chromium
def test_no_payload_runs_or_escapes_in_chromium(html_outputs, tmp_path):
    fragments = [name for name in OUTPUT_NAMES if name not in DOCUMENTS]
    sections = "\n".join(
        f'<section class="fo-case" data-name="{name}">{html_outputs[name]}</section>' for name in fragments
    )
    page = tmp_path / "reports.html"
    page.write_text(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{TITLE}</title></head>\n'
        f'<body style="margin: 16px">\n{sections}\n{PROBE}</body></html>\n',
        encoding="utf-8",
    )
    assert _check_in_browser(page)["reports"] == len(fragments)

    for number, name in enumerate(DOCUMENTS):
        document = re.sub(r"<title>.*?</title>", f"<title>{TITLE}</title>", html_outputs[name], count=1, flags=re.S)
        head, _, tail = document.rpartition("</body>")
        assert _, f"the {name} has no body"
        page = tmp_path / f"document-{number}.html"
        page.write_text(f"{head}\n{PROBE}</body>{tail}", encoding="utf-8")
        assert _check_in_browser(page)["reports"] == 1, name


def test_payloads_tried(capsys):
    with capsys.disabled():
        print(
            f"\nsecurity: {len(PAYLOADS_TRIED)} payloads in names, messages, error types, logs and columns, "
            f"checked in {len(OUTPUT_NAMES)} HTML outputs"
        )
    assert len(set(PAYLOADS_TRIED)) == len(PAYLOADS_TRIED)


# ------------------------------------------------------------------------------------------------ secrets

SECRET_KEY = "fo-SECRET-key-5e1c9a7b3d2f"
TICKET = "fo-TICKET-0d2b4f6a8c1e"
BASIC = base64.b64encode(f"{SECRET_KEY}:".encode()).decode()
WRONG_KEY = "fo-WRONG-key-9a8b7c6d5e4f"
SECRETS = (SECRET_KEY, TICKET, BASIC, WRONG_KEY)
LAB_SECRET_MESSAGE = f'Vault call failed with {{"apiKey": "{SECRET_KEY}", "user": "svc"}}'
NOTES_SECRET_MESSAGE = f"DSS answered 403 to Authorization: Basic {BASIC} (X-DKU-APITicket: {TICKET})"
TRAIN_SECRET_MESSAGE = f"requests to DSS failed: headers={{'X-DKU-APITicket': '{TICKET}'}} apiKey={SECRET_KEY}"


@pytest.fixture(scope="module")
def secret_dss():
    with EmulatedDSS.start(flows=[fast_clinical_flow()], api_key=SECRET_KEY) as dss:
        yield dss


class _Scenario:
    def __init__(self):
        self.calls = []

    def set_scenario_variables(self, **values):
        self.calls.append(values)

    def add_report_item(self, *args):
        self.calls.append(args)


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc)


def test_secrets_never_leave_the_run(secret_dss, tmp_path, caplog, capsys, monkeypatch):
    dss = secret_dss
    caplog.set_level(logging.DEBUG)
    seen: Dict[str, str] = {}
    client = dss.client()

    ok = run_pipeline(dss, CLINICAL, build_config(), tmp_path / "first.json")  # everything built once
    assert ok.data["state"] == "SUCCESS"

    dss.fail_recipe(CLINICAL, LAB, LAB_SECRET_MESSAGE)
    dss.fail_recipe(CLINICAL, NOTES, NOTES_SECRET_MESSAGE)
    run = run_pipeline(dss, CLINICAL, build_config(on_failure="continue"), tmp_path / "record.json")
    assert run.states() == {LAB: "FAILED", NOTES: "FAILED", JOIN: "SKIPPED", TRAIN: "SKIPPED"}
    seen["run record file"] = (tmp_path / "record.json").read_text(encoding="utf-8")
    seen["build report"] = render_build_report(run.data, dss_url=dss.url)
    assert "apiKey" in seen["run record file"] and "X-DKU-APITicket" in seen["run record file"]
    assert "***" in seen["run record file"], "the secret-bearing messages did not reach the record at all"

    seen["build macro"] = run_build_macro({"on_failure": "continue"}, {}, client=client, project_key=CLINICAL)
    dss.clear_faults()

    dss.fail_recipe(CLINICAL, TRAIN, TRAIN_SECRET_MESSAGE)  # a Python recipe: the message is also in a traceback
    scenario = _Scenario()
    history = client.get_project(CLINICAL).create_managed_folder("Run history")
    with pytest.raises(RecipesFailed) as failed_step:
        run_recipes_step(
            {"recipes": [TRAIN], "record_folder": history.id},
            {"config": {}},
            client=client,
            project_key=CLINICAL,
            scenario=scenario,
        )
    seen["step exception"] = _exception_text(failed_step.value)
    assert TRAIN in seen["step exception"]
    seen["scenario variables and report items"] = json.dumps(scenario.calls)
    seen["run history folder (records, report)"] = _folder_text(history)
    assert "X-DKU-APITicket" in seen["run history folder (records, report)"], "the failure did not reach the folder"

    monkeypatch.setenv("DSS_API_KEY", SECRET_KEY)
    json_file, html_file = tmp_path / "cli.json", tmp_path / "cli.html"
    code = cli.main(
        [
            "build",
            "--url",
            dss.url,
            "--project",
            CLINICAL,
            "--recipes",
            TRAIN,
            "--json",
            str(json_file),
            "--html",
            str(html_file),
            "--verbose",
        ]
    )
    assert code == cli.EXIT_FAILED
    out, err = capsys.readouterr()
    seen["command line stdout"], seen["command line stderr"] = out, err
    seen["command line record"] = json_file.read_text(encoding="utf-8")
    seen["command line html"] = html_file.read_text(encoding="utf-8")
    dss.clear_faults()

    with pytest.raises(DSSAccessError) as wrong:
        run_build_macro({}, {}, client=dss.client(WRONG_KEY), project_key=CLINICAL)
    seen["wrong key exception"] = _exception_text(wrong.value)
    assert cli.main(["build", "--url", dss.url, "--api-key", WRONG_KEY, "--project", CLINICAL, "--quiet"]) == 2
    out, err = capsys.readouterr()
    seen["wrong key command line"] = out + err

    seen["project variables"] = json.dumps(client.get_project(CLINICAL).get_variables())
    assert "flow_orchestrator.last_run" in seen["project variables"]
    seen["logs (DEBUG)"] = caplog.text + "\n".join(r.getMessage() for r in caplog.records)

    leaks = {where: [s for s in SECRETS if s in text] for where, text in seen.items()}
    assert not {where: found for where, found in leaks.items() if found}, "secrets leaked"
    assert len(seen) >= 12


def test_read_only_key_gets_a_permission_error_naming_the_fix(dss):
    """A key that may read but not run jobs: no job starts and the user is told which permission is missing."""
    before = dss.job_starts(CLINICAL)
    try:
        message = run_build_macro({}, {}, client=dss.client(READ_ONLY_KEY), project_key=CLINICAL)
    except FlowOrchestratorError as exc:
        message = str(exc)
    assert dss.job_starts(CLINICAL) == before
    assert "permission" in message.lower() and "run jobs" in message.lower(), message
    assert "rejected the api key" not in message.lower(), message


def test_every_macro_declares_the_permissions_it_needs():
    """DSS shows a macro only to users with these project permissions; writing macros need WRITE_CONF."""
    needed = {"build-pipeline": "WRITE_CONF", "propagate-schema": "WRITE_CONF", "verify-outputs": "READ_CONF"}
    found = {}
    for descriptor in sorted((ROOT / "python-runnables").glob("*/runnable.json")):
        data = json.loads(descriptor.read_text(encoding="utf-8"))
        permissions = data.get("permissions")
        assert isinstance(permissions, list) and permissions, f"{descriptor}: no permissions declared"
        assert set(permissions) <= {"ADMIN", "READ_CONF", "WRITE_CONF"}, f"{descriptor}: {permissions}"
        found[descriptor.parent.name] = permissions
    assert set(found) == set(needed), found
    for macro, permission in needed.items():
        assert permission in found[macro] or "ADMIN" in found[macro], (macro, found[macro])
