"""The integration suite's two targets: a real DSS instance chosen by environment variables, or the emulator.

Kept apart from ``conftest.py`` so tests can import these classes by a unique module name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

import pytest
from real_dss_setup import DEFAULT_CONNECTION, ClinicalTestFlow

ENV_URL, ENV_API_KEY, ENV_PROJECT = "DSS_URL", "DSS_API_KEY", "DSS_PROJECT"
ENV_CONNECTION, ENV_VERIFY_TLS = "DSS_CONNECTION", "DSS_VERIFY_TLS"


@dataclass(frozen=True)
class RealDSSSettings:
    """The real instance to test against, read from the environment."""

    url: str
    api_key: str = field(repr=False)
    project_key: str
    connection: str = DEFAULT_CONNECTION
    verify_tls: bool = True

    @property
    def display_url(self) -> str:
        """Scheme, host and port only: user info or query strings never reach the terminal."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}"


def real_dss_settings(environ: Mapping[str, str]) -> Optional[RealDSSSettings]:
    """The real-instance settings, None for the emulator; a usage error naming what is missing when half-set."""
    url, api_key, project = (environ.get(k, "").strip() for k in (ENV_URL, ENV_API_KEY, ENV_PROJECT))
    if not url and not api_key:
        return None
    missing = [name for name, value in ((ENV_URL, url), (ENV_API_KEY, api_key), (ENV_PROJECT, project)) if not value]
    if missing:
        raise pytest.UsageError(
            f"Real-DSS mode needs {ENV_URL}, {ENV_API_KEY} and {ENV_PROJECT}; {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. Run: make integration-tests "
            "DSS_URL=https://dss.example.com DSS_API_KEY=<key> DSS_PROJECT=<an empty project key>, "
            "or unset them all to use the emulator."
        )
    if not url.startswith(("http://", "https://")):
        raise pytest.UsageError(
            f"{ENV_URL}={url!r} is not a URL: give the instance's base URL, e.g. https://dss.example.com:11200"
        )
    verify = environ.get(ENV_VERIFY_TLS, "1").strip().lower() not in ("0", "false", "no", "off")
    connection = environ.get(ENV_CONNECTION, "").strip() or DEFAULT_CONNECTION
    return RealDSSSettings(url.rstrip("/"), api_key, project, connection, verify)


class DSSTarget:
    """The instance and project the integration tests act on, and the names of the clinical Flow's objects there."""

    def __init__(
        self,
        url: str,
        api_key: str,
        project_key: str,
        flow: ClinicalTestFlow,
        emulator: Any = None,
        verify_tls: bool = True,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.project_key = project_key
        self.flow = flow
        self.emulator = emulator
        self.verify_tls = verify_tls

    @property
    def is_real(self) -> bool:
        return self.emulator is None

    def client(self):
        """A new, real ``dataikuapi.DSSClient`` on the target (whatever client release is installed)."""
        from flow_orchestrator.dss import connect

        return connect(self.url, self.api_key, verify_tls=self.verify_tls)

    def project(self):
        return self.client().get_project(self.project_key)

    def name(self, clinical_name: str) -> str:
        """The target's name for a clinical Flow object: ``LAB_RESULTS`` -> ``FO_TEST_LAB_RESULTS`` on a DSS."""
        return self.flow.name(clinical_name)

    def __repr__(self) -> str:  # never the API key
        kind = "real DSS" if self.is_real else "emulator"
        return f"DSSTarget({kind} at {urlsplit(self.url).hostname}, project {self.project_key})"
