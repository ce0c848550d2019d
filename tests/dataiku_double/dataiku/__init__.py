"""Test double of DSS's ``dataiku`` package: the few entry points the plugin's shells call.

Inside DSS, ``api_client()`` authenticates with the process ticket as the user running the macro or step;
here it talks to the DSS emulator named by ``DKU_TEST_DSS_URL`` / ``DKU_TEST_DSS_API_KEY``.
"""

from __future__ import annotations

import os

#: Environment variables the double reads (the real module reads DKU_API_TICKET and the backend port instead).
URL_VARIABLE = "DKU_TEST_DSS_URL"
API_KEY_VARIABLE = "DKU_TEST_DSS_API_KEY"
PROJECT_KEY_VARIABLE = "DKU_CURRENT_PROJECT_KEY"


def api_client():
    """A ``dataikuapi.DSSClient`` acting as the current user (here: the emulator's key)."""
    import dataikuapi

    url = os.environ.get(URL_VARIABLE)
    api_key = os.environ.get(API_KEY_VARIABLE)
    if not url or not api_key:
        raise Exception("No DSS URL or API key found from any location")
    return dataikuapi.DSSClient(url, api_key)


def default_project_key() -> str:
    """The project the macro, step or script runs in, as DSS sets it for every plugin process."""
    key = os.environ.get(PROJECT_KEY_VARIABLE)
    if not key:
        raise Exception("Default project key is not specified (no DKU_CURRENT_PROJECT_KEY in env)")
    return key
