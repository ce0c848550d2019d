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
    assert dss.job_starts(CLINICAL) - before == 4
    assert (elsewhere / "run.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
