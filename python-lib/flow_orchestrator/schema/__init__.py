"""Dataset schemas, pure: diffs (:mod:`.diff`), the impact preview that simulates propagation (:mod:`.simulation`)
and DSS's propagation results in plain words (:mod:`.messages`). The adapter reads schemas and recipes from DSS; the
propagate use case calls these."""

from .diff import SchemaDiff, SchemaSnapshot, diff_schemas, diff_snapshots
from .messages import (
    PropagationError,
    propagation_error,
    propagation_failure,
    propagation_messages,
    stopped_at_recipe,
    summarise_propagation,
)
from .simulation import (
    CODE_RECIPE_TYPES,
    DATABASE_SCHEMA_RECIPE_TYPES,
    SIMULATED_RECIPE_TYPES,
    ImpactPreview,
    RecipeBreak,
    UncheckedRecipe,
    preview_impact,
)

__all__ = [
    "SchemaSnapshot",
    "SchemaDiff",
    "diff_schemas",
    "diff_snapshots",
    "PropagationError",
    "stopped_at_recipe",
    "propagation_error",
    "propagation_failure",
    "summarise_propagation",
    "propagation_messages",
    "CODE_RECIPE_TYPES",
    "DATABASE_SCHEMA_RECIPE_TYPES",
    "SIMULATED_RECIPE_TYPES",
    "RecipeBreak",
    "UncheckedRecipe",
    "ImpactPreview",
    "preview_impact",
]
