"""Output schemas of a recipe computed from its input schemas and payload, without data.

Schema propagation and ``schema-update`` use this; it shares the per-type compilers of ``executors`` so the schema it
computes is exactly the schema a build writes.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from dss_emulator.execution.executors import RecipeConfigError, compile_recipe


class SchemaComputationError(Exception):
    """The output schema cannot be computed, e.g. a join on a column that no longer exists in an input.

    ``recipe`` names the recipe, ``message`` says what is wrong and how to fix it; ``column`` and ``input_name`` name
    the missing column and the input it was looked up in, when that is the problem.
    """

    def __init__(
        self, recipe: str, message: str, column: Optional[str] = None, input_name: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.recipe = recipe
        self.message = message
        self.column = column
        self.input_name = input_name


def output_schemas(recipe: dict, input_schemas: Dict[str, List[dict]]) -> Dict[str, List[dict]]:
    """Columns (``[{"name", "type"}]``) of every output of ``recipe`` given the columns of its dataset inputs.

    ``input_schemas`` maps input names to columns; inputs that are folders are simply left out.
    """
    try:
        compiled = compile_recipe(recipe, input_schemas)
    except RecipeConfigError as error:
        raise SchemaComputationError(
            recipe.get("name", error.recipe), error.message, error.column, error.input_name
        ) from None
    return {name: [dict(column) for column in columns] for name, columns in compiled.outputs.items()}
