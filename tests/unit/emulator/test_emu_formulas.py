"""The formula subset: values, inferred types and errors; user text is parsed, never evaluated as Python."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dss_emulator.execution.formulas import FormulaError, compile_formula

COLUMNS = [
    {"name": "price", "type": "double"},
    {"name": "qty", "type": "int"},
    {"name": "name", "type": "string"},
    {"name": "ok", "type": "boolean"},
    {"name": "d", "type": "date"},
]
ROW = [2.5, 4, "tee", True, "2024-01-02T00:00:00.000Z"]


def evaluate(expression, row=ROW):
    formula = compile_formula(expression, COLUMNS)
    return formula.evaluate(row), formula.output_type


@pytest.mark.parametrize(
    "expression, value, output_type",
    [
        ("price * qty", 10.0, "double"),
        ("qty + 1", 5, "bigint"),
        ("qty / 8", 0.5, "double"),
        ("qty % 3", 1, "bigint"),
        ("-qty + 2 * (qty - 1)", 2, "bigint"),
        ("name + '-' + qty", "tee-4", "string"),
        ("numval('3.5') + 1", 4.5, "double"),
        ("strval(price)", "2.5", "string"),
        ("if(qty > 3, 'many', 'few')", "many", "string"),
        ("if(qty > 30, qty, null)", None, "int"),
        ("qty >= 4 && !(price > 3)", True, "boolean"),
        ('qty == 5 || name == "tee"', True, "boolean"),
        ('val("price") * 2', 5.0, "double"),
        ("round(price)", 3, "bigint"),
        ("abs(0 - qty)", 4, "bigint"),
        ("coalesce(null, name)", "tee", "string"),
        ("isBlank(name)", False, "boolean"),
        ("length(name) + 1", 4, "bigint"),
        ("toUppercase(name)", "TEE", "string"),
        ("d", "2024-01-02T00:00:00.000Z", "date"),
        ("qty", 4, "int"),
        ("1.5e1", 15.0, "double"),
    ],
)
def test_values_and_types(expression, value, output_type):
    assert evaluate(expression) == (value, output_type)


def test_nulls_propagate_through_arithmetic_and_division_by_zero():
    row = [None, 0, None, None, None]
    assert evaluate("price * 2", row)[0] is None
    assert evaluate("qty / 0", ROW)[0] is None
    assert evaluate("name + 'x'", row)[0] == "x"
    assert evaluate("price > 1", row)[0] is False


def test_unknown_column_names_the_column():
    with pytest.raises(FormulaError) as caught:
        compile_formula("pricee * 2", COLUMNS)
    assert caught.value.column == "pricee"
    assert "column 'pricee' used in formula `pricee * 2` does not exist" in caught.value.message


@pytest.mark.parametrize(
    "expression, fragment",
    [
        ("", "the formula is empty"),
        ("price *", "expected a value"),
        ("(price", "expected ')'"),
        ("price $ 2", "unexpected character '$'"),
        ("__import__('os')", "unknown function __import__()"),
        ("os.system('x')", "unexpected character '.'"),
        ("if(1, 2)", "function if() takes 3 arguments, got 2"),
        ("val(name)", "val() takes a quoted column name"),
        ("price 2", "unexpected '2'"),
    ],
)
def test_syntax_errors_are_explained(expression, fragment):
    with pytest.raises(FormulaError) as caught:
        compile_formula(expression, COLUMNS)
    assert fragment in caught.value.message


@settings(derandomize=True)
@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6))
def test_integer_arithmetic_matches_python(a, b):
    columns = [{"name": "a", "type": "bigint"}, {"name": "b", "type": "bigint"}]
    formula = compile_formula("a + b * 2 - (a - b)", columns)
    assert formula.evaluate([a, b]) == a + b * 2 - (a - b)
    assert formula.output_type == "bigint"
