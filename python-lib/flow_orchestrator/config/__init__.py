"""One configuration model (:mod:`.model`) and its parsers (:mod:`.build`, :mod:`.propagate`, :mod:`.verify`), all
checked by their JSON Schemas the same way (:mod:`.validation`); every field error names the user's field."""

from ..resources import schemas_dir
from .build import (
    build_expectations,
    build_fields,
    config_from_dict,
    config_to_dict,
    normalize_build_mode,
    normalize_partition_spec,
    parse_build_config,
    partition_spec_problems,
)
from .model import (
    BUILD_MODE_LABELS,
    BUILD_MODES,
    DEFAULT_KEEP_RUNS,
    ON_FAILURE_MODES,
    SOURCES,
    STRATEGIES,
    BuildConfig,
    RetryPolicy,
    RunOptions,
    Selection,
)
from .validation import load_schema

__all__ = [
    "BUILD_MODES",
    "BUILD_MODE_LABELS",
    "STRATEGIES",
    "ON_FAILURE_MODES",
    "DEFAULT_KEEP_RUNS",
    "SOURCES",
    "Selection",
    "RetryPolicy",
    "RunOptions",
    "BuildConfig",
    "parse_build_config",
    "build_fields",
    "config_to_dict",
    "config_from_dict",
    "load_schema",
    "schemas_dir",
    "normalize_build_mode",
    "normalize_partition_spec",
    "partition_spec_problems",
    "build_expectations",
]
