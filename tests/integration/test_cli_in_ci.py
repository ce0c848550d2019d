"""The command line as a CI pipeline uses it: every case runs ``flow-orchestrator`` as a separate process against an
emulator, and reads only what a CI log and workspace would show (exit code, stdout, stderr, the files written).

Installed from a wheel into a fresh virtual environment and run from another directory, the command finds its JSON
Schemas; secrets never leave the process; an empty selection is refused; a key that may not run jobs is found before
any recipe fails; bad files and DSS errors give one clear line (``-v`` adds the traceback).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

from dss_emulator import EmulatedDSS
from tests.reliability.harness import fast_clinical_flow, fast_example_flow

pytestmark = pytest.mark.emulator_only

ROOT = Path(__file__).resolve().parents[2]
CLINICAL, DAILY = "CLINICAL", "DAILY"
READER_KEY = "ci-reader-key-5b1d"
ADMIN_KEY = "ci-admin-key-9c2e"


@pytest.fixture(scope="module")
def dss():
    """The clinical and partitioned example Flows (10 ms recipes), with a read-only key."""
    with EmulatedDSS.start(
        flows=[fast_clinical_flow(), fast_example_flow("partitioned")], api_key=ADMIN_KEY, read_only_api_key=READER_KEY
    ) as emulator:
        yield emulator


def ci_env(dss: EmulatedDSS, **overrides: Optional[str]) -> Dict[str, str]:
    """The environment of a CI step: DSS_URL, DSS_API_KEY, DSS_PROJECT set; the library on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    env.update(DSS_URL=dss.url, DSS_API_KEY=ADMIN_KEY, DSS_PROJECT=CLINICAL, PYTHONPATH=str(ROOT / "python-lib"))
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def flow_cli(dss: EmulatedDSS, *args: str, cwd: Path, env: Optional[Dict[str, str]] = None, command=None):
    """Run ``flow-orchestrator ARGS`` (``python -m flow_orchestrator`` by default) as CI would; returns the result."""
    argv = list(command or [sys.executable, "-m", "flow_orchestrator"]) + list(args)
    return subprocess.run(
        argv,
        cwd=str(cwd),
        env=env or ci_env(dss),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def output(result) -> str:
    return result.stdout + result.stderr


# ------------------------------------------------------------------------------------------------ 1. install


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the sources (the work tree stays clean), as ``make wheel`` builds it."""
    source = _mkdir(tmp_path / "src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "python-lib", source / "python-lib", ignore=ignore)
    shutil.copytree(ROOT / "resource", source / "resource", ignore=ignore)
    wheels = tmp_path / "wheels"
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = wheels.glob("flow_orchestrator-*-py3-none-any.whl")
    return wheel


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_the_wheel_installs_a_command_that_plans_and_builds_from_any_directory(dss, tmp_path):
    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # The outer pip installs into the fresh environment (its cache serves the dependencies); without PYTHONPATH, so
    # that nothing of the source tree passes for an installed distribution.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    command = [str(venv / "bin" / "flow-orchestrator")]
    elsewhere = _mkdir(tmp_path / "elsewhere")
    env = ci_env(dss, PYTHONPATH=None, FLOW_ORCHESTRATOR_SCHEMAS=None, DKU_CUSTOM_RESOURCE_FOLDER=None)
    located = subprocess.run(
        [str(python), "-c", "import flow_orchestrator, flow_orchestrator.resources as r; print(r.schemas_dir())"],
        cwd=str(elsewhere),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    schemas = Path(located.stdout.strip())
    assert located.returncode == 0 and schemas.name == "schemas", located.stderr
    assert schemas.is_relative_to(venv.resolve()), f"schemas not taken from the installed package: {schemas}"

    planned = flow_cli(dss, "plan", "--json", "plan.json", cwd=elsewhere, env=env, command=command)
    assert planned.returncode == 0, output(planned)
    assert "Plan for project CLINICAL: 4 recipe(s)" in planned.stdout
    assert json.loads((elsewhere / "plan.json").read_text(encoding="utf-8"))["state"] == "PLANNED"

    before = dss.job_starts(CLINICAL)
    built = flow_cli(dss, "build", "--quiet", "--json", "run.json", "--html", "run.html", cwd=elsewhere, env=env,
                     command=command)  # fmt: skip
    assert built.returncode == 0, output(built)
    record = json.loads((elsewhere / "run.json").read_text(encoding="utf-8"))
    assert record["state"] == "SUCCESS" and record["counts"]["SUCCESS"] == 4
    assert dss.job_starts(CLINICAL) - before == 3  # grouped jobs (the default): join and train share one job
    assert (elsewhere / "run.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # Every schema in use: the run record's (resume), the expectations' (capture, then verify).
    resumed = flow_cli(dss, "resume", "--quiet", "--record", "run.json", cwd=elsewhere, env=env, command=command)
    assert resumed.returncode == 0 and "Nothing to resume" in resumed.stdout, output(resumed)
    captured = flow_cli(dss, "verify", "--datasets", "LAB_RESULTS_AGG", "--capture", "spec.json", cwd=elsewhere,
                        env=env, command=command)  # fmt: skip
    assert captured.returncode == 0, output(captured)
    verified = flow_cli(dss, "verify", "--expectations", "spec.json", cwd=elsewhere, env=env, command=command)
    assert verified.returncode == 0, output(verified)


# ------------------------------------------------------------------------------------------------ 2. secrets

URL_PASSWORD = "ci-url-Pass77"


def test_no_secret_leaves_the_process_even_when_dss_quotes_it_verbatim(dss, tmp_path):
    """A recipe error quoting the key, a URL with credentials: stdout, stderr (-v), record and report stay clean."""
    quoted = f"auth failed with key {ADMIN_KEY} for jdbc:postgresql://etl:{URL_PASSWORD}@db.internal/dwh"
    dss.fail_recipe(CLINICAL, "group_LAB_RESULTS_AGG", quoted, times=1)
    host = dss.url.split("://", 1)[1]
    url = f"http://ci-user:{URL_PASSWORD}@{host}"
    env = ci_env(dss, DSS_URL=None)
    result = flow_cli(dss, "build", "-v", "--url", url, "--json", "run.json", "--html", "run.html", cwd=tmp_path,
                      env=env)  # fmt: skip
    assert result.returncode == 1, output(result)
    record_text = (tmp_path / "run.json").read_text(encoding="utf-8")
    report = (tmp_path / "run.html").read_text(encoding="utf-8")
    for where, text in (("output", output(result)), ("record", record_text), ("report", report)):
        assert ADMIN_KEY not in text, where
        assert URL_PASSWORD not in text and "ci-user" not in text, where
    assert "auth failed with key *** for jdbc:postgresql://***@db.internal/dwh" in record_text
    assert "auth failed with key ***" in result.stdout  # the summary still says what happened
    record = json.loads(record_text)
    urls = [u for r in record["recipes"] for u in r["job_urls"]]
    assert urls and all(u.startswith(dss.url + "/projects/CLINICAL/jobs/") for u in urls), urls
    assert record["dss_url"] == dss.url


def test_an_invalid_url_is_refused_without_showing_its_password(dss, tmp_path):
    result = flow_cli(dss, "plan", "--url", f"etl:{URL_PASSWORD}@dss.example.com", cwd=tmp_path)
    assert result.returncode == 2, output(result)
    assert "is not valid" in result.stderr and "etl:***@dss.example.com" in result.stderr
    assert URL_PASSWORD not in output(result)


def test_a_registered_secret_is_redacted_from_every_string_and_every_record():
    from flow_orchestrator.record import RunRecord
    from flow_orchestrator.redaction import forget_secrets, public_url, redact, register_secret

    try:
        register_secret("preset-Key-0042")  # what dss.connect does with a preset's key
        assert redact("DSS said: bad key preset-Key-0042!") == "DSS said: bad key ***!"
        assert redact("encoded preset-Key-0042 and preset-Key-0042") == "encoded *** and ***"
        record = RunRecord(run_id="r", project_key="P", started_at="2026-12-06T00:00:00Z", dss_url="http://h")
        record.plan = {"note": "used preset-Key-0042"}
        assert "preset-Key-0042" not in json.dumps(record.to_dict())
        assert public_url("https://u:p%40ss@dss.example.com:11200/x") == "https://dss.example.com:11200/x"
    finally:
        forget_secrets()


# ------------------------------------------------------------------------------------------------ 3. empty selection


@pytest.mark.parametrize(
    "option,value",
    [("--recipes", ""), ("--targets", ""), ("--select", ""), ("--select", ","), ("--exclude", " ")],
)
def test_an_empty_selection_option_is_refused_naming_it(dss, tmp_path, option, value):
    before = dss.job_starts(CLINICAL)
    result = flow_cli(dss, "build", "--quiet", option, value, "--json", "run.json", cwd=tmp_path)
    assert result.returncode == 2, output(result)
    assert f"{option}: {value!r} names no" in result.stderr
    assert "--all" in result.stderr or option == "--exclude"
    assert dss.job_starts(CLINICAL) == before and not (tmp_path / "run.json").exists()


def test_a_selection_that_matches_nothing_names_the_options_as_typed(dss, tmp_path):
    result = flow_cli(dss, "plan", "--select", "tag:nope", "--targets", "NOPE_DS", cwd=tmp_path)
    assert result.returncode == 2, output(result)
    assert "- --targets: 'NOPE_DS' is neither a recipe nor a dataset of the Flow" in result.stderr
    assert "- --select: 'tag:nope': no recipe has the tag 'nope'" in result.stderr


def test_everything_is_all_or_no_selection_option(dss, tmp_path):
    for args in (["--all"], []):
        result = flow_cli(dss, "plan", *args, cwd=tmp_path)
        assert result.returncode == 0, output(result)
        assert "Plan for project CLINICAL: 4 recipe(s)" in result.stdout


def test_a_form_selection_that_names_nothing_selects_nothing_and_says_so():
    from flow_orchestrator.config import parse_build_config
    from flow_orchestrator.errors import ConfigError

    with pytest.raises(ConfigError, match=r"select: ',' names no expression, so it selects nothing"):
        parse_build_config({"select": ","}, "macro")
    with pytest.raises(ConfigError, match=r"exclude: ' , ' names no expression, so it excludes nothing"):
        parse_build_config({"exclude": " , "}, "step")
    with pytest.raises(ConfigError, match=r"zones: ',' names no Flow zone, so it selects nothing"):
        parse_build_config({"zones": [","]}, "macro")
    assert parse_build_config(
        {"select": "", "targets": [], "recipes": None, "zones": [""]}, "macro"
    ).selection.is_everything


# ------------------------------------------------------------------------------------------------ 4. permissions


def test_a_key_that_may_not_run_jobs_stops_the_build_before_any_recipe_fails(dss, tmp_path):
    env = ci_env(dss, DSS_API_KEY=READER_KEY)
    planned = flow_cli(dss, "plan", cwd=tmp_path, env=env)
    assert planned.returncode == 0, output(planned)  # reading is allowed: the plan is what the key may see
    before = dss.job_starts(CLINICAL)
    result = flow_cli(dss, "build", "--quiet", "--json", "run.json", "--html", "run.html", cwd=tmp_path, env=env)
    assert result.returncode == 2, output(result)
    assert "Write project content" in result.stderr and "project CLINICAL" in result.stderr
    assert "FAILED" not in output(result) and "Traceback" not in output(result)
    assert READER_KEY not in output(result)
    assert dss.job_starts(CLINICAL) == before
    assert not (tmp_path / "run.json").exists() and not (tmp_path / "run.html").exists()


# ------------------------------------------------------------------------------------------------ 5. no tracebacks

SPEC = {"version": 1, "datasets": {"LAB_RESULTS": {"columns": [{"name": "patient_id"}]}}}


def test_spec_files_in_utf8_with_or_without_bom_are_read(dss, tmp_path):
    results = []
    for name, data in (("plain.json", b""), ("bom.json", b"\xef\xbb\xbf")):
        (tmp_path / name).write_bytes(data + json.dumps(SPEC).encode("utf-8"))
        results.append(flow_cli(dss, "verify", "--expectations", name, cwd=tmp_path))
    plain, bom = results
    assert plain.returncode == 1 and "LAB_RESULTS columns: unexpected columns" in plain.stdout, output(plain)
    assert (bom.returncode, bom.stdout, bom.stderr) == (plain.returncode, plain.stdout, plain.stderr)


@pytest.mark.parametrize(
    "encoding,expected",
    [("utf-16", "is UTF-16 text (what Windows PowerShell writes by default)"),
     ("utf-16-le", "looks like UTF-16 text without a byte order mark"),
     ("cp1252", "is not UTF-8 text: byte 0xe9 on line 1")],
)  # fmt: skip
def test_a_spec_file_in_another_encoding_gets_one_clear_line(dss, tmp_path, encoding, expected):
    spec = dict(SPEC, description="café")
    (tmp_path / "spec.json").write_bytes(json.dumps(spec, ensure_ascii=False).encode(encoding))
    for command in (["verify"], ["build", "--quiet"]):
        result = flow_cli(dss, *command, "--expectations", "spec.json", cwd=tmp_path)
        assert result.returncode == 2, output(result)
        assert "Traceback" not in output(result) and "UnicodeDecodeError" not in output(result)
        assert f"--expectations: spec.json {expected}" in result.stderr
        assert "save it as UTF-8" in result.stderr


def test_a_record_that_is_not_utf8_is_refused_in_one_line(dss, tmp_path):
    (tmp_path / "run.json").write_bytes('{"run_id": "café"}'.encode("cp1252"))
    result = flow_cli(dss, "resume", "--record", "run.json", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in output(result), output(result)
    assert "run.json is not UTF-8 text" in result.stderr


def test_a_dss_error_is_one_line_naming_the_object_and_v_adds_the_traceback(tmp_path):
    """A dataset deleted while its recipe remains: the plan reads it and DSS answers 404."""
    with EmulatedDSS.start(flows=[fast_clinical_flow()], api_key=ADMIN_KEY) as own:
        own.client().get_project(CLINICAL).get_dataset("LAB_RESULTS_AGG").delete()
        result = flow_cli(own, "plan", cwd=tmp_path, env=ci_env(own))
        assert result.returncode == 2, output(result)
        assert "Traceback" not in output(result)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert lines[0].startswith("flow-orchestrator: Dataset LAB_RESULTS_AGG, an output the plan builds, does not ")
        assert "deleted while the recipe writing it remains" in lines[0]
        verbose = flow_cli(own, "plan", "-v", cwd=tmp_path, env=ci_env(own))
        assert verbose.returncode == 2
        assert "Traceback (most recent call last)" in verbose.stderr and "DataikuException" in verbose.stderr
        assert ADMIN_KEY not in output(verbose)
        assert own.job_starts(CLINICAL) == 0


# ------------------------------------------------------------------------------------------------ 6. small ones


def test_plan_refuses_a_timeout_that_is_not_a_number_as_build_does(dss, tmp_path):
    for command in ("plan", "build"):
        result = flow_cli(dss, command, "--quiet", "--timeout", "nan", cwd=tmp_path)
        assert result.returncode == 2, output(result)
        assert "--timeout: must be a finite number (got nan)" in result.stderr


def test_reorder_without_ordered_is_refused(dss, tmp_path):
    result = flow_cli(dss, "plan", "--recipes", "group_LAB_RESULTS_AGG", "--reorder", cwd=tmp_path)
    assert result.returncode == 2, output(result)
    assert "--reorder: it reorders an --ordered recipe list" in result.stderr
    ordered = flow_cli(dss, "plan", "--recipes", "group_LAB_RESULTS_AGG", "--ordered", "--reorder", cwd=tmp_path)
    assert ordered.returncode == 0, output(ordered)


def test_a_project_key_in_the_wrong_case_gets_a_suggestion(dss, tmp_path):
    result = flow_cli(dss, "plan", "--project", "clinical", cwd=tmp_path)
    assert result.returncode == 2, output(result)
    assert "Did you mean CLINICAL?" in result.stderr


def test_the_end_of_the_run_is_said_once(dss, tmp_path):
    result = flow_cli(dss, "build", "--recipes", "group_LAB_RESULTS_AGG", cwd=tmp_path)
    assert result.returncode == 0, output(result)
    assert "Run SUCCESS: 1 success" in result.stderr
    assert "Run SUCCESS: Run success" not in result.stderr
    assert "Plan ready: 1 recipe(s) in 1 layer(s)" in result.stderr  # the count once, at the start too


def test_resuming_a_run_with_nothing_left_says_so_without_an_empty_table(dss, tmp_path):
    built = flow_cli(dss, "build", "--quiet", "--recipes", "group_LAB_RESULTS_AGG", "--json", "run.json", cwd=tmp_path)
    assert built.returncode == 0, output(built)
    run_id = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["run_id"]
    before = dss.job_starts(CLINICAL)
    result = flow_cli(dss, "resume", "--quiet", "--record", "run.json", cwd=tmp_path)
    assert result.returncode == 0, output(result)
    assert result.stdout.strip() == f"Nothing to resume: every recipe of run {run_id} succeeded; no job was started."
    assert dss.job_starts(CLINICAL) == before


#: Names and the columns a terminal draws them in (wide CJK, an emoji, an emoji made wide by U+FE0F, a ZWJ sequence).
WIDE_NAMES = {"集計_売上": 9, "📊_sales": 8, "⚙️_cfg": 6, "👩‍💻_dev": 6, "plain": 5}


def test_cjk_and_emoji_names_keep_the_summary_table_aligned(dss, tmp_path):
    schema = [{"name": "a", "type": "string"}]
    datasets = [
        {
            "name": "SRC",
            "managed": False,
            "schema": schema,
            "generate": {"rows": 3, "seed": 1, "columns": {"a": {"kind": "id", "prefix": "A"}}},
        }
    ]
    recipes = []
    for index, name in enumerate(WIDE_NAMES):
        datasets.append({"name": f"OUT_{index}", "schema": schema})
        recipes.append({"name": name, "type": "sync", "inputs": ["SRC"], "outputs": [f"OUT_{index}"],
                        "emulation": {"duration": 0.01}})  # fmt: skip
    dss.load_flow({"projectKey": "UNICODE", "datasets": datasets, "recipes": recipes})
    result = flow_cli(dss, "build", "--quiet", cwd=tmp_path, env=ci_env(dss, DSS_PROJECT="UNICODE"))
    assert result.returncode == 0, output(result)
    rows = {line.split("  ")[0].strip(): line for line in result.stdout.splitlines()[1:]}
    assert set(rows) == set(WIDE_NAMES), result.stdout
    column = max(WIDE_NAMES.values()) + 2  # where STATE starts, in terminal columns
    for name, width in WIDE_NAMES.items():
        line = rows[name]
        # The state column starts at the same terminal column on every line: code points = columns - extra width.
        assert line.index("SUCCESS") == column - (width - len(name)), (name, line)
    assert result.stdout.splitlines()[0].index("STATE") == column


def test_the_readme_partitioned_example_does_what_it_says(dss, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("flow-orchestrator build --targets ORDERS_BY_STORE")]
    args = line.split("#")[0].split()[1:]
    assert "--partitions" in args
    result = flow_cli(dss, *args, "--quiet", "--json", "run.json", cwd=tmp_path, env=ci_env(dss, DSS_PROJECT=DAILY))
    assert result.returncode == 0, output(result)
    record = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert {r["name"]: r["state"] for r in record["recipes"]} == {
        "sync_ORDERS_CLEAN": "SUCCESS",
        "group_ORDERS_BY_STORE": "SUCCESS",
    }
    job_ids = dict.fromkeys(j for r in record["recipes"] for j in r["job_ids"])  # grouped: the chain shares one job
    jobs = [dss.client().get_project(DAILY).get_job(j).get_status() for j in job_ids]
    assert all(job["baseStatus"]["state"] == "DONE" for job in jobs)
    built = [o.get("targetPartition") for job in jobs for o in job["baseStatus"]["def"]["outputs"]]
    assert built == ["2026-12-05", "2026-12-05"], built


# ------------------------------------------------------------------------------------------------ exit codes (issue 10)


@pytest.mark.parametrize(
    "option,path,expected",
    [("--json", "notes.txt/run.json", "cannot write notes.txt/run.json"), ("--html", ".", "is a folder")],
)
def test_output_paths_are_checked_before_the_first_job(dss, tmp_path, option, path, expected):
    (tmp_path / "notes.txt").write_text("a file, not a folder", encoding="utf-8")
    before = dss.job_starts(CLINICAL)
    result = flow_cli(dss, "build", "--quiet", option, path, cwd=tmp_path)
    assert result.returncode == 2, output(result)
    assert f"{option}: " in result.stderr and expected in result.stderr
    assert dss.job_starts(CLINICAL) == before


def test_an_access_error_after_jobs_started_exits_1_with_the_record_and_the_summary(tmp_path):
    """The project disappears (deleted, or the key's access revoked) while a job runs: DSS did start jobs."""
    with EmulatedDSS.start(flows=[fast_clinical_flow()], api_key=ADMIN_KEY) as own:
        own.hang_recipe(CLINICAL, "group_LAB_RESULTS_AGG")
        argv = [sys.executable, "-m", "flow_orchestrator", "build", "--recipes", "group_LAB_RESULTS_AGG",
                "--json", "run.json"]  # fmt: skip
        process = subprocess.Popen(argv, cwd=str(tmp_path), env=ci_env(own), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)  # fmt: skip
        try:
            seen = []
            for line in process.stderr:  # the progress lines: wait for the job to start, no sleep
                seen.append(line)
                if "started group_LAB_RESULTS_AGG" in line:
                    break
            assert any("started" in line for line in seen), seen
            own.client().get_project(CLINICAL).delete()
            stdout, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 1, "".join(seen) + stdout + stderr
        assert "group_LAB_RESULTS_AGG" in stdout and "RECIPE" in stdout  # the summary
        assert "CLINICAL" in stderr and "resume it with --record" in stderr
        record = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
        assert record["state"] != "RUNNING" and record["recipes"][0]["job_ids"]
