"""``dataiku.customstep``: the three getters a custom scenario step reads its parameters with.

Same contract as DSS: JSON from environment variables, decoded on every call.
"""

from __future__ import annotations

import json
import os

STEP_CONFIG_VARIABLE = "DKU_PLUGIN_STEP_CONFIG"
PLUGIN_CONFIG_VARIABLE = "DKU_PLUGIN_CONFIG"
RESOURCE_FOLDER_VARIABLE = "DKU_CUSTOM_RESOURCE_FOLDER"


def get_step_config():
    """The step's own parameters (PRESET parameters possibly unresolved)."""
    return json.loads(os.getenv(STEP_CONFIG_VARIABLE))


def get_plugin_config():
    """``{"config": step parameters with presets resolved, "pluginConfig": plugin-level settings}``."""
    return json.loads(os.getenv(PLUGIN_CONFIG_VARIABLE))


def get_step_resource():
    """Path of the plugin's ``resource/`` folder."""
    return os.getenv(RESOURCE_FOLDER_VARIABLE)
