"""The report shell every renderer shares: the Jinja2 environment, the scoped CSS, badges, safe links.

Below the three renderers (build/plan :mod:`.html`, schema :mod:`.schema_html`, verification :mod:`.verify_html`),
which import it; it imports none of them. Every string that reaches HTML is escaped here or by autoescape.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Dict, Iterable, Optional
from urllib.parse import quote, urlsplit, urlunsplit

import jinja2
from markupsafe import Markup

from ..redaction import public_url
from ..text import format_duration

TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

#: Colour family of each state, shared by badges, table rows and timeline bars (state is always shown as text too).
STATE_TONES: Dict[str, str] = {
    "SUCCESS": "ok",
    "PASS": "ok",
    "PASSED": "ok",
    "DONE": "ok",
    "OK": "ok",
    "ADDED": "ok",
    "FAILED": "fail",
    "FAIL": "fail",
    "ERROR": "fail",
    "REMOVED": "fail",
    "BROKEN": "fail",
    "TIMED_OUT": "warn",
    "WARN": "warn",
    "WARNING": "warn",
    "CHANGED": "warn",
    "TYPE_CHANGED": "warn",
    "REORDERED": "warn",
    "ABORTED": "aborted",
    "CANCELLED": "aborted",
    "SKIPPED": "skip",
    "NOT_RUN": "skip",
    "UNCHANGED": "skip",
    "RUNNING": "info",
    "PLANNED": "info",
}

_URL_FORBIDDEN = frozenset("\"'<>`\\{}|^")  # never in a real DSS URL; rejecting them keeps hrefs plain


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment of every report: autoescape on, ``report/templates`` loader, shared globals."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(badge=badge, state_tone=state_tone, format_duration=format_duration)
    env.filters["duration"] = format_duration
    return env


@functools.lru_cache(maxsize=1)
def stylesheet() -> Markup:
    """The report CSS; every selector starts with ``.fo-report`` so nothing leaks into the DSS page."""
    with open(os.path.join(TEMPLATES_DIR, "report.css"), encoding="utf-8") as handle:
        return Markup(handle.read().strip())


def state_tone(state: Any) -> str:
    """Colour family of a state: ok, fail, warn, aborted, skip, info or other."""
    return STATE_TONES.get(str(state).upper(), "other") if state is not None else "other"


def badge(state: Any) -> Markup:
    """A coloured pill showing ``state`` as text (``TIMED_OUT`` reads "TIMED OUT")."""
    text = "UNKNOWN" if state is None else str(state)
    return Markup('<span class="fo-badge fo-tone-{}">{}</span>').format(state_tone(text), text.replace("_", " "))


def render_page(title: str, body_html: str, *, subtitle: Optional[str] = None) -> str:
    """Wrap trusted ``body_html`` in the report shell: root ``.fo-report`` div, scoped CSS, title and subtitle.

    ``title`` and ``subtitle`` are escaped; ``body_html`` is inserted as is, so build it from escaped parts only.
    """
    return (
        environment()
        .get_template("page.html")
        .render(css=stylesheet(), title=title, subtitle=subtitle, body=Markup(body_html))
    )


def html_document(fragment_html: str, *, title: str) -> str:
    """A complete HTML document around a report fragment, for writing to a file (``--html FILE``)."""
    return environment().get_template("document.html").render(title=title, fragment=Markup(fragment_html))


def render_template(name: str, **context: Any) -> Markup:
    """Render a template of ``report/templates`` with the shared environment (for report bodies)."""
    return Markup(environment().get_template(name).render(**context))


def safe_http_url(url: Any) -> Optional[str]:
    """``url`` when it is an absolute http(s) URL with a host and no space, quote or control character, else None.

    User info (``user:password@``) is dropped so credentials never reach a report.
    """
    if not isinstance(url, str):
        return None
    text = url.strip()
    if not text or any(ord(c) < 32 or ord(c) == 127 or c.isspace() or c in _URL_FORBIDDEN for c in text):
        return None
    try:
        parts = urlsplit(public_url(text))  # user info dropped as everywhere (redaction.public_url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


def link_base(dss_url: Any) -> Optional[str]:
    """What DSS links start with: an absolute http(s) URL, ``""`` for root-relative links (the local instance, whose
    client knows only the backend's internal address), None when no link can be built."""
    if dss_url == "":
        return ""
    base = safe_http_url(dss_url)
    return None if base is None else base.rstrip("/")


def safe_link(url: Any) -> Optional[str]:
    """``url`` when it is a safe absolute http(s) URL or a root-relative path (``/projects/...``), else None."""
    if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
        if not any(ord(c) < 32 or ord(c) == 127 or c.isspace() or c in _URL_FORBIDDEN for c in url):
            return url
        return None
    return safe_http_url(url)


def dss_jobs_url(dss_url: Any, project_key: Any) -> Optional[str]:
    """Where a project's job pages are in DSS: ``{dss_url}/projects/{project_key}/jobs/`` (a job's page is this plus
    its quoted id and ``/``; None when not buildable); root-relative when ``dss_url`` is ``""`` (see
    :func:`link_base`)."""
    base = link_base(dss_url)
    if base is None or not project_key:
        return None
    return "{}/projects/{}/jobs/".format(base, quote(str(project_key), safe=""))


def dss_job_url(dss_url: Any, project_key: Any, job_id: Any) -> Optional[str]:
    """Link to a job's page in DSS: ``{dss_url}/projects/{project_key}/jobs/{job_id}/`` (None when not buildable)."""
    jobs = dss_jobs_url(dss_url, project_key)
    if jobs is None or not job_id:
        return None
    return "{}{}/".format(jobs, quote(str(job_id), safe=""))


def join(parts: Iterable[Markup], separator: str = "") -> Markup:
    """Escaped parts joined by ``separator`` (itself trusted)."""
    return Markup(separator).join(parts)


__all__ = [
    "STATE_TONES",
    "TEMPLATES_DIR",
    "badge",
    "dss_job_url",
    "environment",
    "html_document",
    "join",
    "link_base",
    "render_page",
    "render_template",
    "safe_http_url",
    "safe_link",
    "state_tone",
    "stylesheet",
]
