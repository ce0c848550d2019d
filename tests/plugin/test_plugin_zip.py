"""The plugin zip DSS installs (issue 7 item 1): layout, nothing that must not ship, and a library that imports alone.

The zip is built from the working tree (``--from-worktree``) so the test sees uncommitted work; ``make plugin`` packs
the same selection of files from ``HEAD``. The import checks run in a fresh interpreter that sees only the unpacked
``python-lib`` and the installed packages, as in DSS's plugin code env: no ``dataiku`` package, no emulator, no tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "tools" / "build_plugin_zip.py"

REQUIRED_PATHS = (
    "plugin.json",
    "python-lib/flow_orchestrator/__init__.py",
    "code-env/python/desc.json",
    "code-env/python/spec/requirements.txt",
    "LICENSE",
    "CHANGELOG.md",
    "README.md",
)
REQUIRED_FOLDERS = ("python-runnables", "python-steps", "parameter-sets", "resource")
ALLOWED_TOP_LEVEL = {
    "plugin.json",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "release_info.json",
    "python-lib",
    "python-runnables",
    "python-steps",
    "parameter-sets",
    "resource",
    "code-env",
}
FORBIDDEN_PARTS = {"tests", "dss_emulator", "bench", "examples", "docs", "tools", "__pycache__", ".git", ".venv"}
FORBIDDEN_SUFFIXES = (".pyc", ".pyo")
#: The only library package allowed to import ``dataikuapi`` when it is imported (the DSS adapter and its modules).
DSS_ADAPTER = "flow_orchestrator.dss"


def is_dss_adapter(module: str) -> bool:
    return module == DSS_ADAPTER or module.startswith(DSS_ADAPTER + ".")


def run_builder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BUILDER), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = run_builder("--from-worktree", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    zips = list(out.glob("*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


@pytest.fixture(scope="module")
def names(plugin_zip) -> list:
    with zipfile.ZipFile(plugin_zip) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def unpacked(plugin_zip, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(target)
    return target


def test_zip_name_matches_plugin_json(plugin_zip, unpacked):
    descriptor = json.loads((unpacked / "plugin.json").read_text(encoding="utf-8"))
    assert plugin_zip.name == f"dss-plugin-{descriptor['id']}-{descriptor['version']}.zip"
    assert descriptor["id"] == "flow-orchestrator"


def test_release_info_names_the_source(unpacked):
    info = json.loads((unpacked / "release_info.json").read_text(encoding="utf-8"))
    descriptor = json.loads((unpacked / "plugin.json").read_text(encoding="utf-8"))
    assert info["source"] == "working tree"
    assert (info["plugin_id"], info["version"]) == (descriptor["id"], descriptor["version"])


def test_layout_has_the_plugin_at_the_root(names):
    for path in REQUIRED_PATHS:
        assert path in names, f"{path} missing from the zip"
    for folder in REQUIRED_FOLDERS:
        assert any(n.startswith(folder + "/") for n in names), f"{folder}/ missing from the zip"
    assert {n.split("/", 1)[0] for n in names} <= ALLOWED_TOP_LEVEL


def test_every_component_ships_with_its_code(names):
    for descriptor, code in (("runnable.json", "runnable.py"), ("step.json", "step.py")):
        for name in names:
            if name.endswith("/" + descriptor):
                assert name[: -len(descriptor)] + code in names, f"{name} ships without its {code}"
    assert any(n.startswith("python-runnables/") and n.endswith("/runnable.json") for n in names)
    assert any(n.startswith("python-steps/") and n.endswith("/step.json") for n in names)
    assert any(n.startswith("parameter-sets/") and n.endswith("/parameter-set.json") for n in names)


def test_every_descriptor_of_the_tree_is_shipped(names):
    """A macro, step or preset added to the repository is packaged without touching the builder."""
    patterns = (
        "python-runnables/*/runnable.json",
        "python-steps/*/step.json",
        "parameter-sets/*/parameter-set.json",
        "resource/*.py",
        "resource/schemas/*.json",
    )
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            assert path.relative_to(ROOT).as_posix() in names


def test_nothing_forbidden_is_inside(names):
    for name in names:
        parts = set(PurePosixPath(name).parts)
        assert not parts & FORBIDDEN_PARTS, f"{name} must not ship in the plugin"
        assert not name.endswith(FORBIDDEN_SUFFIXES), f"{name} is a compiled file"


def test_every_json_file_is_strict(unpacked, names):
    for name in names:
        if name.endswith(".json"):
            json.loads((unpacked / name).read_text(encoding="utf-8"))


def test_two_builds_of_the_same_tree_are_identical(plugin_zip, tmp_path):
    result = run_builder("--from-worktree", "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / plugin_zip.name).read_bytes() == plugin_zip.read_bytes()


def test_builder_refuses_a_tree_without_plugin_json(tmp_path):
    (tmp_path / "python-lib").mkdir()
    (tmp_path / "python-lib" / "x.py").write_text("", encoding="utf-8")
    result = run_builder("--from-worktree", "--root", str(tmp_path), "--output-dir", str(tmp_path / "dist"))
    assert result.returncode == 2
    assert "plugin.json is missing" in result.stderr
    assert not (tmp_path / "dist").exists()


def test_builder_refuses_a_descriptor_with_comments(tmp_path):
    (tmp_path / "plugin.json").write_text('{"id": "p", "version": "1.0.0"}', encoding="utf-8")
    (tmp_path / "python-lib").mkdir()
    (tmp_path / "python-lib" / "p.py").write_text("", encoding="utf-8")
    (tmp_path / "code-env" / "python").mkdir(parents=True)
    (tmp_path / "code-env" / "python" / "desc.json").write_text("{}", encoding="utf-8")
    (tmp_path / "python-steps" / "s").mkdir(parents=True)
    (tmp_path / "python-steps" / "s" / "step.json").write_text('{"meta": {} // generated\n}', encoding="utf-8")
    result = run_builder("--from-worktree", "--root", str(tmp_path), "--output-dir", str(tmp_path / "dist"))
    assert result.returncode == 2
    assert "python-steps/s/step.json is not strict JSON" in result.stderr


def test_builder_refuses_a_bad_version(tmp_path):
    (tmp_path / "plugin.json").write_text('{"id": "p", "version": "latest"}', encoding="utf-8")
    result = run_builder("--from-worktree", "--root", str(tmp_path), "--output-dir", str(tmp_path / "dist"))
    assert result.returncode == 2
    assert "'version' is 'latest'" in result.stderr


def _run_clean(unpacked: Path, body: str) -> subprocess.CompletedProcess:
    """Run ``body`` in an isolated interpreter whose only extra path is the unpacked python-lib."""
    prelude = textwrap.dedent(f"""
        import importlib, importlib.util, json, pkgutil, sys
        LIB = {str(unpacked / "python-lib")!r}
        sys.path.insert(0, LIB)
        for absent in ("dataiku", "dss_emulator", "tests"):
            assert importlib.util.find_spec(absent) is None, absent + " must not be importable here"
        def all_modules():
            import flow_orchestrator
            assert flow_orchestrator.__file__.startswith(LIB), flow_orchestrator.__file__
            found = ["flow_orchestrator"]
            for info in pkgutil.walk_packages(flow_orchestrator.__path__, "flow_orchestrator."):
                found.append(info.name)
            return sorted(found)
    """)
    return subprocess.run(
        [sys.executable, "-I", "-c", prelude + textwrap.dedent(body)],
        cwd=str(unpacked),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_library_imports_without_dataiku_nor_emulator(unpacked):
    """Every module imports in a DSS-like code env (dataikuapi present, the ``dataiku`` package absent)."""
    result = _run_clean(
        unpacked,
        """
        modules = all_modules()
        failures = {}
        for name in modules:
            try:
                module = importlib.import_module(name)
                assert module.__file__.startswith(LIB), module.__file__
            except Exception as exc:
                failures[name] = repr(exc)
        import flow_orchestrator
        from flow_orchestrator.config import schemas_dir
        print(json.dumps({"modules": modules, "failures": failures, "version": flow_orchestrator.__version__,
                          "schemas": str(schemas_dir())}))
    """,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["failures"] == {}
    assert {"flow_orchestrator.dss", "flow_orchestrator.config", "flow_orchestrator.runner"} <= set(outcome["modules"])
    descriptor = json.loads((unpacked / "plugin.json").read_text(encoding="utf-8"))
    assert outcome["version"] == descriptor["version"], "flow_orchestrator.__version__ differs from plugin.json"
    assert Path(outcome["schemas"]) == unpacked / "resource" / "schemas", "schemas not found beside python-lib"


def test_only_the_dss_adapter_needs_dataikuapi_at_import(unpacked):
    """With ``dataikuapi`` blocked, only ``flow_orchestrator.dss`` (and what imports it) may fail to import."""
    result = _run_clean(
        unpacked,
        """
        importers = set()

        class BlockDataikuapi:
            def find_spec(self, name, path=None, target=None):
                if name == "dataikuapi" or name.startswith("dataikuapi."):
                    frame = sys._getframe(1)
                    while frame is not None:
                        caller = frame.f_globals.get("__name__", "")
                        if caller.startswith("flow_orchestrator"):
                            importers.add(caller)
                            break
                        frame = frame.f_back
                    raise ModuleNotFoundError("No module named 'dataikuapi' (blocked)", name="dataikuapi")
                return None

        sys.meta_path.insert(0, BlockDataikuapi())
        failures = {}
        for name in all_modules():
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                failures[name] = exc.name
            except Exception as exc:
                failures[name] = repr(exc)
        print(json.dumps({"importers": sorted(importers), "failures": failures}))
    """,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(is_dss_adapter(name) for name in outcome["importers"]), (
        f"{outcome['importers']} import dataikuapi when imported: only the DSS adapter may"
    )
    assert all(missing == "dataikuapi" for missing in outcome["failures"].values()), outcome["failures"]
