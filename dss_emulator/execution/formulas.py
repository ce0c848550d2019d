"""A small, safe subset of DSS formulas (GREL) for Prepare steps, split filters and python expression transforms.

Formulas are parsed by hand into closures: user text is never given to ``eval``. The compiler also infers the result
type from the input schema, so an output schema can be computed without data and always matches the computed values.

Supported: numbers, 'strings' or "strings", true/false/null, column names (bare identifiers, or ``val("any name")``),
``+ - * / %`` (``+`` concatenates when either side is a string), comparisons ``== != < <= > >=``, ``&& || !``,
parentheses, and the functions ``if(cond, a, b)``, ``numval(x)``, ``strval(x)``, ``round(x)``, ``abs(x)``,
``coalesce(a, b, ...)``, ``isBlank(x)``, ``isNonBlank(x)``, ``length(s)``, ``toUppercase(s)``, ``toLowercase(s)``,
``trim(s)``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

INT, DOUBLE, STRING, BOOLEAN, NULL = "int", "double", "string", "boolean", "null"

_INTEGER_TYPES = {"int", "bigint", "smallint", "tinyint"}
_DECIMAL_TYPES = {"double", "float"}
_KIND_TO_DSS = {INT: "bigint", DOUBLE: "double", STRING: "string", BOOLEAN: "boolean", NULL: "string"}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+\.\d*(?:[eE][-+]?\d+)?|\d*\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!(),])
    )""",
    re.VERBOSE,
)

Evaluator = Callable[[Sequence[Any]], Any]


class FormulaError(Exception):
    """A formula that cannot be parsed or refers to a missing column; ``column`` names that column when known."""

    def __init__(self, message: str, column: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def kind_of_column_type(dss_type: Optional[str]) -> str:
    """Value kind a DSS column type behaves as inside a formula (dates and anything else behave as strings)."""
    if dss_type in _INTEGER_TYPES:
        return INT
    if dss_type in _DECIMAL_TYPES:
        return DOUBLE
    if dss_type == "boolean":
        return BOOLEAN
    return STRING


def to_number(value: Any) -> Optional[float]:
    """DSS-style numeric reading of a cell: numbers as they are, numeric text parsed, anything else missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


def to_text(value: Any) -> str:
    """DSS-style text of a cell (``strval``): integral doubles lose their ``.0``, booleans are lower case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


class _Node:
    __slots__ = ("kind", "evaluate", "dss_type")

    def __init__(self, kind: str, evaluate: Evaluator, dss_type: Optional[str] = None) -> None:
        self.kind = kind
        self.evaluate = evaluate
        self.dss_type = dss_type or _KIND_TO_DSS[kind]


class CompiledFormula:
    """A parsed formula bound to a schema: ``output_type`` is a DSS type name, ``evaluate(row)`` computes a value."""

    def __init__(self, expression: str, node: _Node, columns_used: List[str]) -> None:
        self.expression = expression
        self.output_type = node.dss_type
        self.kind = node.kind
        self.columns_used = columns_used
        self._evaluate = node.evaluate

    def evaluate(self, row: Sequence[Any]) -> Any:
        return self._evaluate(row)


def compile_formula(expression: str, columns: Sequence[dict]) -> CompiledFormula:
    """Parse ``expression`` against a schema (list of ``{"name", "type"}``); raise FormulaError on any problem."""
    if not isinstance(expression, str) or not expression.strip():
        raise FormulaError("the formula is empty: write an expression such as `price * quantity`")
    parser = _Parser(expression, columns)
    node = parser.parse()
    return CompiledFormula(expression, node, parser.columns_used)


def _tokenize(expression: str) -> List[Tuple[str, str, int]]:
    tokens = []
    position = 0
    length = len(expression)
    while position < length:
        if expression[position:].strip() == "":
            break
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise FormulaError(
                f"unexpected character {expression[position:].lstrip()[:1]!r} at position {position} "
                f"in formula `{expression}`"
            )
        for kind in ("number", "string", "ident", "op"):
            text = match.group(kind)
            if text is not None:
                tokens.append((kind, text, match.start(kind)))
                break
        position = match.end()
    tokens.append(("end", "", length))
    return tokens


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _numeric_kind(left: _Node, right: _Node) -> str:
    return INT if left.kind == INT and right.kind == INT else DOUBLE


class _Parser:
    def __init__(self, expression: str, columns: Sequence[dict]) -> None:
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.index = 0
        self.columns: Dict[str, Tuple[int, str]] = {}
        for position, column in enumerate(columns):
            self.columns.setdefault(column["name"], (position, column.get("type") or "string"))
        self.columns_used: List[str] = []

    # -- token helpers -------------------------------------------------------------------------------------------
    def _peek(self) -> Tuple[str, str, int]:
        return self.tokens[self.index]

    def _take(self) -> Tuple[str, str, int]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _expect(self, text: str) -> None:
        kind, value, position = self._take()
        if value != text or kind not in ("op",):
            found = "the end" if kind == "end" else repr(value)
            raise FormulaError(
                f"expected {text!r} at position {position} in formula `{self.expression}`, found {found}"
            )

    def parse(self) -> _Node:
        node = self._or()
        kind, value, position = self._peek()
        if kind != "end":
            raise FormulaError(f"unexpected {value!r} at position {position} in formula `{self.expression}`")
        return node

    # -- grammar -------------------------------------------------------------------------------------------------
    def _or(self) -> _Node:
        node = self._and()
        while self._peek()[1] == "||" and self._peek()[0] == "op":
            self._take()
            left, right = node, self._and()
            node = _Node(BOOLEAN, lambda row, a=left.evaluate, b=right.evaluate: _truthy(a(row)) or _truthy(b(row)))
        return node

    def _and(self) -> _Node:
        node = self._not()
        while self._peek()[1] == "&&" and self._peek()[0] == "op":
            self._take()
            left, right = node, self._not()
            node = _Node(BOOLEAN, lambda row, a=left.evaluate, b=right.evaluate: _truthy(a(row)) and _truthy(b(row)))
        return node

    def _not(self) -> _Node:
        if self._peek()[1] == "!" and self._peek()[0] == "op":
            self._take()
            inner = self._not()
            return _Node(BOOLEAN, lambda row, a=inner.evaluate: not _truthy(a(row)))
        return self._comparison()

    def _comparison(self) -> _Node:
        node = self._additive()
        kind, value, _ = self._peek()
        if kind == "op" and value in ("==", "!=", "<", "<=", ">", ">="):
            self._take()
            right = self._additive()
            return _comparison_node(value, node, right)
        return node

    def _additive(self) -> _Node:
        node = self._multiplicative()
        while self._peek()[0] == "op" and self._peek()[1] in ("+", "-"):
            operator = self._take()[1]
            right = self._multiplicative()
            if operator == "+" and (node.kind == STRING or right.kind == STRING):
                node = _Node(STRING, lambda row, a=node.evaluate, b=right.evaluate: to_text(a(row)) + to_text(b(row)))
            else:
                node = _arithmetic_node(operator, node, right)
        return node

    def _multiplicative(self) -> _Node:
        node = self._unary()
        while self._peek()[0] == "op" and self._peek()[1] in ("*", "/", "%"):
            operator = self._take()[1]
            node = _arithmetic_node(operator, node, self._unary())
        return node

    def _unary(self) -> _Node:
        if self._peek()[0] == "op" and self._peek()[1] in ("-", "+"):
            operator = self._take()[1]
            inner = self._unary()
            kind = inner.kind if inner.kind in (INT, DOUBLE) else DOUBLE
            sign = -1 if operator == "-" else 1

            def negate(row, a=inner.evaluate, sign=sign, kind=kind):
                number = to_number(a(row))
                if number is None:
                    return None
                return _cast(sign * number, kind)

            return _Node(kind, negate)
        return self._primary()

    def _primary(self) -> _Node:
        kind, value, position = self._take()
        if kind == "number":
            number = float(value) if any(c in value for c in ".eE") else int(value)
            return _Node(DOUBLE if isinstance(number, float) else INT, lambda row, n=number: n)
        if kind == "string":
            text = _unquote(value)
            return _Node(STRING, lambda row, t=text: t)
        if kind == "op" and value == "(":
            node = self._or()
            self._expect(")")
            return node
        if kind == "ident":
            if value in ("true", "false"):
                constant = value == "true"
                return _Node(BOOLEAN, lambda row, c=constant: c)
            if value == "null":
                return _Node(NULL, lambda row: None)
            if self._peek()[0] == "op" and self._peek()[1] == "(":
                self._take()
                arguments: List[_Node] = []
                literal_names: List[Optional[str]] = []
                if not (self._peek()[0] == "op" and self._peek()[1] == ")"):
                    while True:
                        token = self._peek()
                        literal_names.append(_unquote(token[1]) if token[0] == "string" else None)
                        arguments.append(self._or())
                        if self._peek()[0] == "op" and self._peek()[1] == ",":
                            self._take()
                            continue
                        break
                self._expect(")")
                return self._function(value, arguments, literal_names, position)
            return self._column(value)
        found = "the end of the formula" if kind == "end" else repr(value)
        raise FormulaError(f"expected a value at position {position} in formula `{self.expression}`, found {found}")

    def _column(self, name: str) -> _Node:
        if name not in self.columns:
            known = ", ".join(sorted(self.columns)) or "none"
            raise FormulaError(
                f"column '{name}' used in formula `{self.expression}` does not exist (available columns: {known})",
                column=name,
            )
        position, dss_type = self.columns[name]
        if name not in self.columns_used:
            self.columns_used.append(name)
        kind = kind_of_column_type(dss_type)
        return _Node(kind, lambda row, i=position: row[i], dss_type=dss_type)

    def _function(self, name: str, args: List[_Node], literal_names: List[Optional[str]], position: int) -> _Node:
        def arity(count: int) -> None:
            if len(args) != count:
                raise FormulaError(
                    f"function {name}() takes {count} argument{'' if count == 1 else 's'}, got "
                    f"{len(args)} in formula `{self.expression}`"
                )

        if name == "val":
            arity(1)
            if literal_names[0] is None:
                raise FormulaError(
                    f'val() takes a quoted column name, e.g. val("my column"), in formula `{self.expression}`'
                )
            return self._column(literal_names[0])
        if name == "if":
            arity(3)
            condition, when_true, when_false = args
            kind = _unify(when_true, when_false)
            if when_false.kind == NULL:
                dss_type = when_true.dss_type
            elif when_true.kind == NULL:
                dss_type = when_false.dss_type
            else:
                dss_type = when_true.dss_type if when_true.dss_type == when_false.dss_type else None
            return _Node(
                kind,
                lambda row, c=condition.evaluate, a=when_true.evaluate, b=when_false.evaluate, k=kind: _cast(
                    a(row) if _truthy(c(row)) else b(row), k
                ),
                dss_type=dss_type,
            )
        if name == "numval":
            arity(1)
            return _Node(DOUBLE, lambda row, a=args[0].evaluate: _cast(to_number(a(row)), DOUBLE))
        if name == "strval":
            arity(1)
            return _Node(STRING, lambda row, a=args[0].evaluate: None if a(row) is None else to_text(a(row)))
        if name == "round":
            arity(1)

            def rounded(row, a=args[0].evaluate):
                number = to_number(a(row))
                return None if number is None else int(math.floor(number + 0.5))

            return _Node(INT, rounded)
        if name == "abs":
            arity(1)
            kind = args[0].kind if args[0].kind in (INT, DOUBLE) else DOUBLE

            def absolute(row, a=args[0].evaluate, k=kind):
                number = to_number(a(row))
                return None if number is None else _cast(abs(number), k)

            return _Node(kind, absolute)
        if name == "coalesce":
            if not args:
                raise FormulaError(f"function coalesce() needs at least one argument in formula `{self.expression}`")
            kind = args[0].kind
            for other in args[1:]:
                kind = _unify_kinds(kind, other.kind)
            evaluators = [arg.evaluate for arg in args]

            def first_present(row, evaluators=evaluators, k=kind):
                for evaluate in evaluators:
                    value = evaluate(row)
                    if value is not None and value != "":
                        return _cast(value, k)
                return None

            return _Node(kind, first_present)
        if name in ("isBlank", "isNonBlank"):
            arity(1)
            blank = name == "isBlank"
            return _Node(BOOLEAN, lambda row, a=args[0].evaluate, blank=blank: (a(row) in (None, "")) == blank)
        if name == "length":
            arity(1)
            return _Node(INT, lambda row, a=args[0].evaluate: None if a(row) is None else len(to_text(a(row))))
        if name in ("toUppercase", "toLowercase", "trim"):
            arity(1)
            transform = {"toUppercase": str.upper, "toLowercase": str.lower, "trim": str.strip}[name]
            return _Node(
                STRING, lambda row, a=args[0].evaluate, f=transform: None if a(row) is None else f(to_text(a(row)))
            )
        raise FormulaError(
            f"unknown function {name}() at position {position} in formula `{self.expression}` (supported: "
            "if, numval, strval, val, round, abs, coalesce, isBlank, isNonBlank, length, toUppercase, "
            "toLowercase, trim)"
        )


def _unify_kinds(left: str, right: str) -> str:
    if left == right or right == NULL:
        return left
    if left == NULL:
        return right
    if {left, right} <= {INT, DOUBLE}:
        return DOUBLE
    return STRING


def _unify(left: _Node, right: _Node) -> str:
    return _unify_kinds(left.kind, right.kind)


def _cast(value: Any, kind: str) -> Any:
    """Make a computed value agree with the formula's inferred type."""
    if value is None:
        return None
    if kind == INT:
        number = to_number(value)
        return None if number is None else int(number)
    if kind == DOUBLE:
        number = to_number(value)
        return None if number is None else float(number)
    if kind in (STRING, NULL):
        return to_text(value)
    return _truthy(value)


def _arithmetic_node(operator: str, left: _Node, right: _Node) -> _Node:
    kind = DOUBLE if operator == "/" else _numeric_kind(left, right)

    def compute(row, a=left.evaluate, b=right.evaluate, operator=operator, kind=kind):
        x = to_number(a(row))
        y = to_number(b(row))
        if x is None or y is None:
            return None
        if operator == "+":
            result = x + y
        elif operator == "-":
            result = x - y
        elif operator == "*":
            result = x * y
        elif y == 0:
            return None
        elif operator == "/":
            result = x / y
        else:
            result = math.fmod(x, y) if kind == DOUBLE else int(math.fmod(x, y))
        return _cast(result, kind)

    return _Node(kind, compute)


def _comparison_node(operator: str, left: _Node, right: _Node) -> _Node:
    numeric = left.kind in (INT, DOUBLE) and right.kind in (INT, DOUBLE)
    boolean = left.kind == BOOLEAN and right.kind == BOOLEAN

    def normalise(value: Any) -> Any:
        if value is None:
            return None
        if numeric:
            return to_number(value)
        if boolean:
            return _truthy(value)
        return to_text(value)

    def compare(row, a=left.evaluate, b=right.evaluate):
        x = normalise(a(row))
        y = normalise(b(row))
        if operator == "==":
            return x == y
        if operator == "!=":
            return x != y
        if x is None or y is None:
            return False
        if operator == "<":
            return x < y
        if operator == "<=":
            return x <= y
        if operator == ">":
            return x > y
        return x >= y

    return _Node(BOOLEAN, compare)
