"""The subset of CloudWatch Logs Insights query syntax the dashboards use: parsed, checked, run.

moto has no Logs Insights, so the dashboards' `log` widgets would otherwise be text nobody ever
ran. This module parses the subset below into a small AST (a syntax error names the position and
what was expected), lists the fields a query reads (the contract test checks each against the
fields the metering EMF documents carry), and evaluates a query over JSON log events (the
sandbox's drill tables, the tests that compare a widget's figures with the records' totals).

Subset (AWS "CloudWatch Logs Insights language query syntax"):

    query    := ("SOURCE" string "|")* command ("|" command)*
    command  := fields | filter | stats | sort | limit | display
    fields   := "fields" expr ["as" name] ("," expr ["as" name])*
    filter   := "filter" condition
    stats    := "stats" expr ["as" name] ("," …)* ["by" group ("," group)*]
    group    := name | "bin(" duration ")"        e.g. bin(5m), bin(1h)
    sort     := "sort" name ["asc" | "desc"] ("," …)*
    limit    := "limit" integer
    display  := "display" name ("," name)*
    expr     := arithmetic (+ - * /, parentheses) over numbers, field names and calls:
                aggregates sum/avg/min/max/count (count(*) too), and ispresent(field);
                in stats, a later item may name an earlier item's alias (as AWS's sample
                "overprovisioned memory" query does)
    condition := expr (= != < <= > >=) expr, ispresent(field), and/or/not, parentheses

Semantics kept from Logs Insights: aggregates skip events where the field is absent; a group
with no values aggregates to null and arithmetic with null is null; division by zero is null;
`bin(t)` groups by the start of the t-long window of `@timestamp`. One difference on purpose:
an aggregate over an array value raises NonScalarField — Logs Insights would not sum the array's
elements (it treats the array as one non-numeric value), so a query that did this would show a
wrong figure; the EMF documents say which fields are scalars (bedrock_watch.contract).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bedrock_watch.errors import BedrockWatchError

AGGREGATES: Final = frozenset({"sum", "avg", "min", "max", "count"})
SCALAR_FUNCTIONS: Final = frozenset({"ispresent"})
COMMANDS: Final = frozenset({"fields", "filter", "stats", "sort", "limit", "display"})
BUILTIN_FIELDS: Final = frozenset({"@timestamp", "@message", "@logStream", "@log", "@ingestionTime"})
_UNITS_MS: Final[Mapping[str, int]] = {
    "ms": 1,
    "msec": 1,
    "millisecond": 1,
    "s": 1000,
    "sec": 1000,
    "second": 1000,
    "m": 60_000,
    "min": 60_000,
    "minute": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
    "hour": 3_600_000,
    "d": 86_400_000,
    "day": 86_400_000,
    "w": 604_800_000,
    "week": 604_800_000,
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'[^']*'|"[^"]*")
      | (?P<quoted>`[^`]+`)
      | (?P<duration>\d+(?:ms|msec|milliseconds?|s|secs?|seconds?|m|mins?|minutes?
                         |h|hrs?|hours?|d|days?|w|weeks?)\b)
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<name>[@A-Za-z_][\w.@-]*)
      | (?P<op><=|>=|!=|[|,()+\-*/=<>])
    )""",
    re.VERBOSE,
)


class LogsInsightsError(BedrockWatchError):
    """A query outside the supported subset, or one that does not parse."""


class NonScalarField(LogsInsightsError):
    """An aggregate met an array value: Logs Insights would not aggregate its elements."""


# ---------------------------------------------------------------------------------- the AST
@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Any, ...]  # expressions; count(*) has Field("*")


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / = != < <= > >= and or
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class Bin:
    window_ms: int
    text: str  # as written, e.g. "5m": the column is named bin(5m)


@dataclass(frozen=True)
class Item:
    expr: Any
    alias: str | None

    @property
    def name(self) -> str:
        return self.alias or render(self.expr)


@dataclass(frozen=True)
class Command:
    kind: str  # fields | filter | stats | sort | limit | display
    items: tuple[Item, ...] = ()
    by: tuple[Item, ...] = ()
    condition: Any = None
    order: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    limit: int = 0
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    sources: tuple[str, ...]
    commands: tuple[Command, ...]


def render(expr: Any) -> str:
    """An expression written back as Logs Insights shows it as a column name."""
    if isinstance(expr, Field):
        return expr.name
    if isinstance(expr, Number):
        return f"{expr.value:g}"
    if isinstance(expr, Text):
        return repr(expr.value)
    if isinstance(expr, Call):
        return f"{expr.function}({', '.join(render(a) for a in expr.args)})"
    if isinstance(expr, Bin):
        return f"bin({expr.text})"
    if isinstance(expr, Not):
        return f"not {render(expr.operand)}"
    if isinstance(expr, Binary):
        return f"{render(expr.left)} {expr.op} {render(expr.right)}"
    raise TypeError(expr)


# ---------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    out = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise LogsInsightsError(f"unexpected character {text[position:].lstrip()[:1]!r} at {position}")
        kind = match.lastgroup or ""
        token = match.group(kind)
        out.append(_Token(kind, token, match.start(kind)))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    # -- token helpers
    def peek(self, offset: int = 0) -> _Token | None:
        i = self.index + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def word(self, offset: int = 0) -> str:
        token = self.peek(offset)
        return token.text.lower() if token is not None and token.kind == "name" else ""

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise LogsInsightsError("query ends too early")
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text.lower() != text:
            raise LogsInsightsError(f"expected {text!r} at {token.at}, found {token.text!r}")

    def fail(self, what: str) -> LogsInsightsError:
        token = self.peek()
        where = f"at {token.at}, found {token.text!r}" if token else "at the end"
        return LogsInsightsError(f"expected {what} {where}")

    # -- grammar
    def query(self) -> Query:
        sources = []
        while self.word() == "source":
            self.take()
            token = self.take()
            if token.kind != "string":
                raise LogsInsightsError(f"SOURCE needs a quoted log group name at {token.at}")
            sources.append(token.text[1:-1])
            self.expect("|")
        commands = [self.command()]
        while self.peek() is not None:
            self.expect("|")
            commands.append(self.command())
        return Query(tuple(sources), tuple(commands))

    def command(self) -> Command:
        kind = self.word()
        if kind not in COMMANDS:
            raise self.fail(f"a command ({', '.join(sorted(COMMANDS))})")
        self.take()
        if kind == "fields":
            return Command(kind, items=self.items())
        if kind == "filter":
            return Command(kind, condition=self.condition())
        if kind == "stats":
            items = self.items()
            by: tuple[Item, ...] = ()
            if self.word() == "by":
                self.take()
                by = self.groups()
            return Command(kind, items=items, by=by)
        if kind == "sort":
            order = []
            while True:
                name = self.field_name()
                descending = False
                if self.word() in ("asc", "desc"):
                    descending = self.take().text.lower() == "desc"
                order.append((name, descending))
                if not self._comma():
                    break
            return Command(kind, order=tuple(order))
        if kind == "limit":
            token = self.take()
            if token.kind != "number" or "." in token.text or int(token.text) < 1:
                raise LogsInsightsError(f"limit needs a positive integer at {token.at}")
            return Command(kind, limit=int(token.text))
        names = [self.field_name()]
        while self._comma():
            names.append(self.field_name())
        return Command(kind, names=tuple(names))

    def _comma(self) -> bool:
        token = self.peek()
        if token is not None and token.text == ",":
            self.take()
            return True
        return False

    def field_name(self) -> str:
        token = self.take()
        if token.kind == "quoted":
            return token.text[1:-1]
        if token.kind != "name":
            raise LogsInsightsError(f"expected a field name at {token.at}, found {token.text!r}")
        return token.text

    def items(self) -> tuple[Item, ...]:
        items = [self.item()]
        while self._comma():
            items.append(self.item())
        return tuple(items)

    def item(self) -> Item:
        expr = self.expr()
        alias = None
        if self.word() == "as":
            self.take()
            alias = self.field_name()
        return Item(expr, alias)

    def groups(self) -> tuple[Item, ...]:
        groups = []
        while True:
            if self.word() == "bin" and (nxt := self.peek(1)) is not None and nxt.text == "(":
                self.take()
                self.expect("(")
                token = self.take()
                if token.kind != "duration":
                    raise LogsInsightsError(f"bin() needs a duration such as 5m at {token.at}")
                self.expect(")")
                expr: Any = Bin(_duration_ms(token.text), token.text)
            else:
                expr = Field(self.field_name())
            alias = None
            if self.word() == "as":
                self.take()
                alias = self.field_name()
            groups.append(Item(expr, alias))
            if not self._comma():
                return tuple(groups)

    # conditions: or > and > not > comparison
    def condition(self) -> Any:
        left = self.conjunction()
        while self.word() == "or":
            self.take()
            left = Binary("or", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.negation()
        while self.word() == "and":
            self.take()
            left = Binary("and", left, self.negation())
        return left

    def negation(self) -> Any:
        if self.word() == "not":
            self.take()
            return Not(self.negation())
        left = self.expr()
        token = self.peek()
        if token is not None and token.text in ("=", "!=", "<", "<=", ">", ">="):
            self.take()
            return Binary(token.text, left, self.expr())
        return left

    # arithmetic: + - > * / > atoms
    def expr(self) -> Any:
        left = self.term()
        while (token := self.peek()) is not None and token.text in ("+", "-"):
            self.take()
            left = Binary(token.text, left, self.term())
        return left

    def term(self) -> Any:
        left = self.atom()
        while (token := self.peek()) is not None and token.text in ("*", "/"):
            self.take()
            left = Binary(token.text, left, self.atom())
        return left

    def atom(self) -> Any:
        token = self.peek()
        if token is None:
            raise self.fail("a value")
        if token.text == "(":
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        if token.text == "-":
            self.take()
            return Binary("-", Number(0), self.atom())
        if token.kind == "number":
            self.take()
            return Number(float(token.text))
        if token.kind == "string":
            self.take()
            return Text(token.text[1:-1])
        if token.kind in ("name", "quoted"):
            name = self.field_name()
            after = self.peek()
            if after is not None and after.text == "(" and token.kind == "name":
                function = name.lower()
                if function not in AGGREGATES | SCALAR_FUNCTIONS:
                    raise LogsInsightsError(
                        f"function {name}() at {token.at} is outside the supported subset"
                    )
                self.take()
                args: list[Any] = []
                if (star := self.peek()) is not None and star.text == "*" and function == "count":
                    self.take()
                    args.append(Field("*"))
                else:
                    args.append(self.expr())
                self.expect(")")
                return Call(function, tuple(args))
            return Field(name)
        raise self.fail("a value")


def _duration_ms(text: str) -> int:
    match = re.fullmatch(r"(\d+)([a-z]+)", text)
    assert match is not None
    unit = match.group(2)
    unit = unit if unit in _UNITS_MS else unit.rstrip("s")
    return int(match.group(1)) * _UNITS_MS[unit]


def parse(text: str) -> Query:
    """The query's AST; LogsInsightsError names what is wrong and where."""
    return _Parser(text).query()


# ---------------------------------------------------------------------------------- fields read
def _walk(expr: Any) -> Iterable[Any]:
    yield expr
    if isinstance(expr, Binary):
        yield from _walk(expr.left)
        yield from _walk(expr.right)
    elif isinstance(expr, Not):
        yield from _walk(expr.operand)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from _walk(arg)


@dataclass(frozen=True)
class FieldsRead:
    """What a query reads from the log events (aliases it defines itself excluded)."""

    all: frozenset[str]
    aggregated: frozenset[str]  # fields inside sum/avg/min/max: these must be scalars


def fields_read(query: Query) -> FieldsRead:
    defined: set[str] = set()
    read: set[str] = set()
    aggregated: set[str] = set()

    def visit(expr: Any) -> None:
        for node in _walk(expr):
            if isinstance(node, Field) and node.name != "*" and node.name not in defined:
                read.add(node.name)
            if isinstance(node, Call) and node.function in AGGREGATES - {"count"}:
                for arg in node.args:
                    aggregated.update(
                        n.name for n in _walk(arg) if isinstance(n, Field) and n.name not in defined
                    )

    for command in query.commands:
        if command.kind == "filter":
            visit(command.condition)
        for item in (*command.items, *command.by):
            visit(item.expr)
            defined.add(item.name)
        for name, _ in command.order:
            if name not in defined:
                read.add(name)
        for name in command.names:
            if name not in defined:
                read.add(name)
    return FieldsRead(frozenset(read), frozenset(aggregated))


# ---------------------------------------------------------------------------------- evaluation
_MISSING: Final = object()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _arith(op: str, left: Any, right: Any) -> Any:
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return None if b == 0 else a / b


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None or left is _MISSING or right is _MISSING:
        return False
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        left, right = a, b
    elif not (isinstance(left, str) and isinstance(right, str)):
        left, right = str(left), str(right)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError:
        return False


def _value(expr: Any, event: Mapping[str, Any]) -> Any:
    if isinstance(expr, Field):
        return event.get(expr.name)
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Text):
        return expr.value
    if isinstance(expr, Not):
        return not _truthy(_value(expr.operand, event))
    if isinstance(expr, Call):
        if expr.function == "ispresent":
            (arg,) = expr.args
            return isinstance(arg, Field) and event.get(arg.name) is not None
        raise LogsInsightsError(f"{expr.function}() is an aggregate: only stats can use it")
    if isinstance(expr, Binary):
        if expr.op == "and":
            return _truthy(_value(expr.left, event)) and _truthy(_value(expr.right, event))
        if expr.op == "or":
            return _truthy(_value(expr.left, event)) or _truthy(_value(expr.right, event))
        left, right = _value(expr.left, event), _value(expr.right, event)
        if expr.op in ("+", "-", "*", "/"):
            return _arith(expr.op, left, right)
        return _compare(expr.op, left, right)
    raise LogsInsightsError(f"{render(expr)} cannot be evaluated here")


def _truthy(value: Any) -> bool:
    return value is not None and value is not False and value not in (0, "")


def _aggregate(call: Call, rows: Sequence[Mapping[str, Any]]) -> Any:
    (arg,) = call.args
    if call.function == "count" and isinstance(arg, Field) and arg.name == "*":
        return float(len(rows))
    values = []
    for row in rows:
        value = _value(arg, row)
        if value is None:
            continue
        if isinstance(value, list | dict):
            raise NonScalarField(
                f"{call.function}({render(arg)}) met a non-scalar value: Logs Insights would not "
                "aggregate its elements"
            )
        if call.function == "count":
            values.append(1.0)
            continue
        number = _number(value)
        if number is not None:
            values.append(number)
    if call.function == "count":
        return float(len(values))
    if not values:
        return None
    if call.function == "sum":
        return math.fsum(values)
    if call.function == "avg":
        return math.fsum(values) / len(values)
    return min(values) if call.function == "min" else max(values)


def _stat_value(expr: Any, rows: Sequence[Mapping[str, Any]], done: Mapping[str, Any]) -> Any:
    if isinstance(expr, Call) and expr.function in AGGREGATES:
        return _aggregate(expr, rows)
    if isinstance(expr, Field):
        if expr.name in done:
            return done[expr.name]
        raise LogsInsightsError(f"{expr.name} in stats is neither an aggregate nor an earlier alias")
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Binary) and expr.op in ("+", "-", "*", "/"):
        return _arith(expr.op, _stat_value(expr.left, rows, done), _stat_value(expr.right, rows, done))
    raise LogsInsightsError(f"{render(expr)} is not allowed in stats")


def run(query: Query | str, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows a query returns over `events` (each a parsed JSON log event with `@timestamp` ms)."""
    parsed = parse(query) if isinstance(query, str) else query
    rows: list[dict[str, Any]] = [dict(e) for e in events]
    for command in parsed.commands:
        if command.kind == "fields":
            for row in rows:
                for item in command.items:
                    row[item.name] = _value(item.expr, row)
        elif command.kind == "filter":
            rows = [row for row in rows if _truthy(_value(command.condition, row))]
        elif command.kind == "stats":
            rows = _stats(command, rows)
        elif command.kind == "sort":
            for name, descending in reversed(command.order):
                present = [r for r in rows if r.get(name) is not None]
                absent = [r for r in rows if r.get(name) is None]
                present.sort(key=_sort_key(name), reverse=descending)
                rows = present + absent
        elif command.kind == "limit":
            rows = rows[: command.limit]
        else:  # display
            rows = [{name: row.get(name) for name in command.names} for row in rows]
    return rows


def _sort_key(name: str) -> Any:
    def key(row: Mapping[str, Any]) -> tuple[bool, float, str]:
        number = _number(row[name])
        return (number is None, number or 0.0, str(row[name]))

    return key


def _stats(command: Command, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        key: list[Any] = []
        for group in command.by:
            if isinstance(group.expr, Bin):
                timestamp = int(row.get("@timestamp", 0))
                key.append(timestamp - timestamp % group.expr.window_ms)
            else:
                key.append(_value(group.expr, row))
        groups.setdefault(tuple(key), []).append(row)
    if not command.by and not groups:
        groups[()] = []
    out = []
    for values, members in groups.items():
        result: dict[str, Any] = {g.name: v for g, v in zip(command.by, values, strict=True)}
        for item in command.items:
            result[item.name] = _stat_value(item.expr, members, result)
        out.append(result)
    return out
