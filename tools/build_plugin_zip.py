"""Build the DSS plugin zip ``dss-plugin-<id>-<version>.zip`` from committed files, as Dataiku's plugin Makefiles do.

By default the zip holds the files of a git revision (``--ref HEAD``): what was not committed does not ship.
``--from-worktree`` packs the working tree instead (tracked and untracked files that git does not ignore), so tests
can check the layout before anything is committed. Only the plugin's own folders and documents go in; tests, the
emulator, benchmarks, examples and docs stay out. Standard library only: ``make plugin`` needs no virtualenv.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]

#: Top-level folders shipped in the plugin (everything under them, except the excluded patterns).
PLUGIN_FOLDERS = ("python-lib", "python-runnables", "python-steps", "parameter-sets", "resource", "code-env")
#: Top-level files shipped in the plugin.
PLUGIN_FILES = ("plugin.json", "README.md", "LICENSE", "CHANGELOG.md")
#: Without these DSS cannot install or run the plugin.
REQUIRED = ("plugin.json", "python-lib", "code-env/python/desc.json")
#: Never shipped, wherever they sit (build leftovers and editor files).
EXCLUDED_PATTERNS = ("*/__pycache__/*", "__pycache__/*", "*.pyc", "*.pyo", "*/.DS_Store", ".DS_Store", "*~", "*.swp")
PLUGIN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+([-.+][0-9A-Za-z.+-]+)?$")
#: Timestamp written in the zip for working-tree builds, so that two builds of the same files are identical.
FIXED_DATE_TIME = (2020, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """A problem the person building the zip must fix; the message names the file and the fix."""


def is_shipped(path: str) -> bool:
    """Whether a repository-relative POSIX path belongs in the plugin zip."""
    if any(fnmatch.fnmatch(path, pattern) for pattern in EXCLUDED_PATTERNS):
        return False
    if path in PLUGIN_FILES:
        return True
    return path.split("/", 1)[0] in PLUGIN_FOLDERS and "/" in path


def zip_name(plugin_id: str, version: str) -> str:
    return f"dss-plugin-{plugin_id}-{version}.zip"


def read_plugin_identity(plugin_json: bytes) -> Tuple[str, str]:
    """(id, version) of a plugin.json, which must be strict JSON, as DSS's tooling reads it."""
    try:
        descriptor = json.loads(plugin_json.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BuildError(f"plugin.json is not strict JSON ({exc}): fix it before packaging") from exc
    plugin_id, version = descriptor.get("id"), descriptor.get("version")
    if not isinstance(plugin_id, str) or not PLUGIN_ID_PATTERN.match(plugin_id):
        raise BuildError(f"plugin.json 'id' is {plugin_id!r}: use letters, digits, '-' and '_' only")
    if not isinstance(version, str) or not VERSION_PATTERN.match(version):
        raise BuildError(f"plugin.json 'version' is {version!r}: use a semantic version such as 0.1.0")
    return plugin_id, version


def check_contents(files: Dict[str, bytes]) -> None:
    """Refuse a zip DSS would reject or half-load: missing parts, or a JSON descriptor that is not strict JSON."""
    for required in REQUIRED:
        if required not in files and not any(name.startswith(required + "/") for name in files):
            raise BuildError(
                f"{required} is missing from the files to package: the plugin cannot be installed "
                "without it (is it committed?)"
            )
    for name, content in sorted(files.items()):
        if name.endswith(".json"):
            try:
                json.loads(content.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise BuildError(
                    f"{name} is not strict JSON ({exc}): DSS and the tests read it with a strict parser, "
                    "remove comments and trailing commas"
                ) from exc


def _git(args: List[str], cwd: Path) -> bytes:
    try:
        return subprocess.run(["git", *args], cwd=str(cwd), check=True, capture_output=True).stdout
    except FileNotFoundError as exc:
        raise BuildError("git is not installed: install it, or build with --from-worktree") from exc
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip()
        raise BuildError(f"git {' '.join(args)} failed: {detail}") from exc


def files_at_ref(root: Path, ref: str) -> Tuple[Dict[str, Tuple[bytes, int]], int]:
    """The shipped files of a git revision as {path: (content, mode)}, and the revision's commit time."""
    archive = _git(["archive", "--format=tar", ref], root)
    files: Dict[str, Tuple[bytes, int]] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar.getmembers():
            if member.isfile() and is_shipped(member.name):
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[member.name] = (extracted.read(), member.mode)
    commit_time = int(_git(["log", "-1", "--format=%ct", ref], root).decode().strip())
    return files, commit_time


def worktree_paths(root: Path) -> Iterable[str]:
    """Files of the working tree git would commit (tracked or untracked, not ignored); a plain walk without git."""
    if (root / ".git").exists():
        listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root).decode("utf-8")
        return sorted({p for p in listed.split("\0") if p and (root / p).is_file()})
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def files_in_worktree(root: Path) -> Dict[str, Tuple[bytes, int]]:
    files = {}
    for path in worktree_paths(root):
        if is_shipped(path):
            full = root / path
            files[path] = (full.read_bytes(), full.stat().st_mode & 0o777)
    return files


def write_zip(destination: Path, files: Dict[str, Tuple[bytes, int]], date_time: Tuple[int, ...]) -> None:
    """Write the files at the zip's root, sorted, with fixed timestamps (same input, same bytes)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):
            content, mode = files[name]
            info = zipfile.ZipInfo(str(PurePosixPath(name)), date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((mode or 0o644) & 0o777 | 0o100000) << 16
            archive.writestr(info, content)
    partial.replace(destination)


def build(root: Path, output_dir: Path, ref: Optional[str] = "HEAD", from_worktree: bool = False) -> Path:
    """Build the plugin zip into ``output_dir``; returns its path."""
    if from_worktree:
        files = files_in_worktree(root)
        date_time: Tuple[int, ...] = FIXED_DATE_TIME
        source = {"source": "working tree"}
    else:
        files, commit_time = files_at_ref(root, ref or "HEAD")
        date_time = max(time.gmtime(commit_time)[:6], FIXED_DATE_TIME)
        commit = _git(["rev-parse", f"{ref}^{{commit}}"], root).decode().strip()
        source = {"source": "git", "ref": ref, "last_commit_id": commit}
    if "plugin.json" not in files:
        where = "the working tree" if from_worktree else f"git revision {ref}"
        raise BuildError(f"plugin.json is missing from {where}: commit it at the repository root")
    plugin_id, version = read_plugin_identity(files["plugin.json"][0])
    contents = {name: content for name, (content, _mode) in files.items()}
    check_contents(contents)
    release_info = dict(source, plugin_id=plugin_id, version=version)
    files["release_info.json"] = (json.dumps(release_info, indent=2, sort_keys=True).encode() + b"\n", 0o644)
    destination = output_dir / zip_name(plugin_id, version)
    write_zip(destination, files, date_time)
    return destination


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--ref", default="HEAD", help="git revision to package (default: HEAD)")
    source.add_argument(
        "--from-worktree",
        action="store_true",
        help="package the working tree (uncommitted files included) instead of a git revision",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="plugin repository root (default: this repository)")
    parser.add_argument("--output-dir", type=Path, default=None, help="where to write the zip (default: <root>/dist)")
    args = parser.parse_args(argv)
    output_dir = args.output_dir if args.output_dir is not None else args.root / "dist"
    try:
        path = build(args.root.resolve(), output_dir, ref=args.ref, from_worktree=args.from_worktree)
    except BuildError as exc:
        print(f"build_plugin_zip: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(path) as archive:
        count = len(archive.namelist())
    print(f"{path} ({count} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
