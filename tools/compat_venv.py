"""Cached virtual environments with the ``dataikuapi`` client of an older DSS release, for the compatibility runs.

DSS runs the plugin with the client it bundles, not the one ``requirements-dev.txt`` pins, so ``make test`` runs a
smoke set and ``make compat`` the whole integration suite with older clients. Each environment,
``.venv-compat/dataiku-api-client-<version>/``, is a venv that sees the development venv's packages (a ``.pth`` file)
and holds only its own ``dataikuapi``, which comes first on ``sys.path``. It is built once and reused.

    python tools/compat_venv.py 12.5.2        # prints the environment's python, building it if needed
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".venv-compat"


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.strip())


def _installed_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('dataiku-api-client'))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def ensure(version: str, base_python: Path) -> Path:
    """The python of the environment for ``dataiku-api-client==version``, built from ``base_python``'s venv if needed."""
    home = CACHE / f"dataiku-api-client-{version}"
    python = home / "bin" / "python"
    if python.exists() and _installed_version(python) == version:
        return python
    venv.EnvBuilder(clear=True, with_pip=False, symlinks=True).create(home)
    own = _site_packages(python)
    base = _site_packages(base_python)
    (own / "flow_orchestrator_dev_venv.pth").write_text(str(base) + "\n", encoding="utf-8")
    subprocess.run(
        [str(base_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
        + ["--target", str(own), f"dataiku-api-client=={version}"],
        check=True,
    )
    installed = _installed_version(python)
    if installed != version:
        raise SystemExit(f"{home}: dataiku-api-client {installed or 'missing'} installed, {version} expected")
    return python


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="a dataiku-api-client version, e.g. 12.5.2")
    parser.add_argument("--base-python", default=str(ROOT / ".venv" / "bin" / "python"))
    args = parser.parse_args(argv)
    print(ensure(args.version, Path(args.base_python)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
