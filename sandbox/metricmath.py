"""CloudWatch metric math over the sandbox metric store, for alarms and GetMetricData.

A query is CloudWatch's MetricDataQuery: either a `MetricStat` (metric, period, stat) or an
`Expression` over other queries' ids. Values are time series (period start -> value), scalars,
arrays of series (`[m1, m2]`, `METRICS()`), or an anomaly band (lower and upper series).

Supported, with CloudWatch's semantics where they are documented:
- arithmetic `+ - * / ^` and unary minus, between series and/or scalars; a series op series has a
  value only where both have one; a division by zero yields no value at that time;
- comparisons `> < >= <= == !=` and `AND OR NOT` (also `&& ||`) giving 1/0 series;
- `IF(cond, a[, b])`, `FILL(m, value | REPEAT | LINEAR)`, `ABS`, `CEIL`, `FLOOR`, `PERIOD(m)`;
- `SUM AVG MIN MAX` of an array (per-timestamp, over the members that have a value) or of a
  single series (one scalar over the whole range, as CloudWatch does);
- `METRICS()` / `METRICS("label part")`: the MetricStat queries of the request;
- `ANOMALY_DETECTION_BAND(m[, width])`: approximated (see AnomalyModel and docs/decisions.md).
Anything else raises MathError naming the function, so a template using an unsupported
expression fails loudly instead of evaluating to nothing.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.metrics import MetricKey, MetricStore, period_start

Series = dict[float, float]


class MathError(ValueError):
    """An expression the sandbox cannot parse or evaluate (names the expression and the problem)."""


@dataclass(frozen=True)
class Band:
    """ANOMALY_DETECTION_BAND result: lower and upper thresholds per timestamp."""

    lower: Series
    upper: Series


@dataclass(frozen=True)
class Contributors:
    """A Metrics Insights query with GROUP BY: one time series per group ("contributor")."""

    series: dict[str, Series]


Value = float | Series | list[Series] | Band | Contributors


@dataclass(frozen=True)
class Query:
    """One MetricDataQuery (an alarm's Metrics entry or a GetMetricData query)."""

    id: str
    metric: MetricKey | None = None
    stat: str | None = None
    period: int | None = None
    expression: str | None = None
    return_data: bool = True
    label: str | None = None
    unit: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Query:
        """From the CloudFormation/API shape ({Id, MetricStat{Metric, Period, Stat}, Expression…})."""
        stat = data.get("MetricStat")
        return_data = data.get("ReturnData", True)
        if isinstance(return_data, str):
            return_data = return_data.lower() != "false"
        period = data.get("Period")
        if stat:
            metric = stat["Metric"]
            return cls(
                id=str(data["Id"]),
                metric=MetricKey.of(
                    metric["Namespace"], metric["MetricName"], metric.get("Dimensions") or []
                ),
                stat=str(stat["Stat"]),
                period=int(stat["Period"]),
                return_data=bool(return_data),
                label=data.get("Label"),
                unit=stat.get("Unit"),
            )
        if "Expression" not in data:
            raise MathError(f"query {data.get('Id')} has neither MetricStat nor Expression")
        return cls(
            id=str(data["Id"]),
            expression=str(data["Expression"]),
            period=int(period) if period else None,
            return_data=bool(return_data),
            label=data.get("Label"),
        )


@dataclass(frozen=True)
class AnomalyModel:
    """How the sandbox approximates CloudWatch's anomaly detection model.

    For each timestamp t the expected value is the mean of the metric's own datapoints in the
    `training_periods` periods strictly before t, and the band is mean +/- width * sd, where sd is
    their population standard deviation floored at `relative_floor` * |mean| (so a perfectly
    flat history still has a band). With fewer than `min_training_points` datapoints there is
    no band value at t, so the alarm sees a missing datapoint. CloudWatch instead trains a
    model on up to two weeks of history with daily/weekly seasonality and trend; the sandbox
    has no seasonality or trend and reacts to level shifts within `training_periods`.
    """

    training_periods: int = 60
    min_training_points: int = 5
    relative_floor: float = 0.05
    default_width: float = 2.0

    def band(self, history: Series, t: float, period: int, width: float) -> tuple[float, float] | None:
        window = [v for ts, v in history.items() if t - self.training_periods * period <= ts < t]
        if len(window) < self.min_training_points:
            return None
        mean = statistics.fmean(window)
        sigma = max(statistics.pstdev(window), self.relative_floor * abs(mean), 1e-9)
        return mean - width * sigma, mean + width * sigma


# ---------------------------------------------------------------------- parsing
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)|(?P<str>\"[^\"]*\")|"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>>=|<=|==|!=|&&|\|\||[-+*/^(),\[\]<>]))"
)


@dataclass(frozen=True)
class Node:
    kind: str  # num, str, id, call, binop, unary, array
    value: Any = None
    args: tuple[Node, ...] = ()


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise MathError(f"cannot parse expression {text!r} at {text[pos:]!r}")
        out.append(match.group(match.lastgroup or "op"))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise MathError(f"expression {self.text!r}: expected {expected or 'more'}, found {token!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.or_()
        if self.peek() is not None:
            raise MathError(f"expression {self.text!r}: unexpected {self.peek()!r}")
        return node

    def _binary(self, ops: set[str], sub: Callable[[], Node]) -> Node:
        node = sub()
        while (tok := self.peek()) is not None and tok.upper() in ops:
            self.take()
            node = Node("binop", tok.upper(), (node, sub()))
        return node

    def or_(self) -> Node:
        return self._binary({"OR", "||"}, self.and_)

    def and_(self) -> Node:
        return self._binary({"AND", "&&"}, self.cmp)

    def cmp(self) -> Node:
        return self._binary({">", "<", ">=", "<=", "==", "!="}, self.add)

    def add(self) -> Node:
        return self._binary({"+", "-"}, self.mul)

    def mul(self) -> Node:
        return self._binary({"*", "/"}, self.unary)

    def unary(self) -> Node:
        tok = self.peek()
        if tok == "-":
            self.take()
            return Node("unary", "-", (self.unary(),))
        if tok is not None and tok.upper() == "NOT":
            self.take()
            return Node("unary", "NOT", (self.unary(),))
        node = self.primary()
        if self.peek() == "^":
            self.take()
            node = Node("binop", "^", (node, self.unary()))
        return node

    def primary(self) -> Node:
        tok = self.take()
        if tok == "(":
            node = self.or_()
            self.take(")")
            return node
        if tok == "[":
            items = [self.or_()]
            while self.peek() == ",":
                self.take()
                items.append(self.or_())
            self.take("]")
            return Node("array", None, tuple(items))
        if tok[0].isdigit() or tok[0] == ".":
            return Node("num", float(tok))
        if tok.startswith('"'):
            return Node("str", tok[1:-1])
        if self.peek() == "(":
            self.take("(")
            args: list[Node] = []
            if self.peek() != ")":
                args.append(self.or_())
                while self.peek() == ",":
                    self.take()
                    args.append(self.or_())
            self.take(")")
            return Node("call", tok.upper(), tuple(args))
        if tok.upper() in {"REPEAT", "LINEAR"}:
            return Node("str", tok.upper())
        return Node("id", tok)


def parse(expression: str) -> Node:
    """The syntax tree of a metric math expression."""
    return _Parser(expression).parse()


def referenced_ids(node: Node) -> set[str]:
    """Query ids an expression refers to."""
    if node.kind == "id":
        return {str(node.value)}
    out: set[str] = set()
    for arg in node.args:
        out |= referenced_ids(arg)
    return out


# ---------------------------------------------------------------------- evaluation
def _binary(op: str, a: float, b: float) -> float | None:
    match op:
        case "+":
            return a + b
        case "-":
            return a - b
        case "*":
            return a * b
        case "/":
            return None if b == 0 else a / b
        case "^":
            try:
                return float(a**b)
            except (OverflowError, ZeroDivisionError):
                return None
        case ">":
            return float(a > b)
        case "<":
            return float(a < b)
        case ">=":
            return float(a >= b)
        case "<=":
            return float(a <= b)
        case "==":
            return float(a == b)
        case "!=":
            return float(a != b)
        case "AND" | "&&":
            return float(bool(a) and bool(b))
        case "OR" | "||":
            return float(bool(a) or bool(b))
    raise MathError(f"unknown operator {op}")


@dataclass
class Evaluation:
    """Evaluates a set of queries over a grid of period starts."""

    store: MetricStore
    queries: Mapping[str, Query]
    grid: list[float]
    period: int
    anomaly: AnomalyModel = field(default_factory=AnomalyModel)
    _cache: dict[str, Value] = field(default_factory=dict)
    _active: set[str] = field(default_factory=set)

    def value(self, query_id: str) -> Value:
        """The value of query `query_id` over the grid."""
        if query_id in self._cache:
            return self._cache[query_id]
        query = self.queries.get(query_id)
        if query is None:
            raise MathError(f"expression refers to unknown id {query_id!r}")
        if query_id in self._active:
            raise MathError(f"query {query_id} refers to itself")
        self._active.add(query_id)
        try:
            result: Value
            if query.metric is not None and query.stat is not None:
                result = self._metric(query)
            elif str(query.expression).lstrip().upper().startswith("SELECT"):
                result = self._insights(parse_insights(str(query.expression)), query.period or self.period)
            else:
                result = self.eval(parse(str(query.expression)))
        finally:
            self._active.discard(query_id)
        self._cache[query_id] = result
        return result

    def _metric(self, query: Query, grid: Iterable[float] | None = None) -> Series:
        assert query.metric is not None
        assert query.stat is not None
        period = query.period or self.period
        if grid is None:
            grid = self.grid
            if period != self.period and self.grid:
                # a query with its own period gets its own epoch-aligned grid over the same range
                first = datetime.fromtimestamp(self.grid[0], UTC)
                grid = grid_for(first, first + timedelta(seconds=len(self.grid) * self.period), period)
        out: Series = {}
        for t in grid:
            lo = datetime.fromtimestamp(t, UTC)
            value = self.store.statistic(query.metric, query.stat, lo, lo + timedelta(seconds=period))
            if value is not None:
                out[t] = value
        return out

    def eval(self, node: Node) -> Value:
        match node.kind:
            case "num":
                return float(node.value)
            case "id":
                return self.value(str(node.value))
            case "array":
                items: list[Series] = []
                for arg in node.args:
                    v = self.eval(arg)
                    items.extend(v if isinstance(v, list) else [self._series(v)])
                return items
            case "unary":
                operand = self.eval(node.args[0])
                fn: Callable[[float], float] = (
                    (lambda x: -x) if node.value == "-" else (lambda x: float(not x))
                )
                return self._map(operand, fn)
            case "binop":
                return self._combine(str(node.value), self.eval(node.args[0]), self.eval(node.args[1]))
            case "call":
                return self._call(str(node.value), node.args)
        raise MathError(f"cannot evaluate {node.kind} {node.value!r} on its own")

    def _insights(self, select: InsightsQuery, period: int) -> Value:
        keys = [k for k in self.store.keys(select.namespace, select.metric) if select.matches(k)]
        groups: dict[str, list[MetricKey]] = {}
        for key in keys:
            dims = dict(key.dimensions)
            if not all(g in dims for g in select.group_by):
                continue  # a metric without the grouping dimension is in no group
            label = " ".join(f"{g}={dims[g]}" for g in select.group_by)
            groups.setdefault(label, []).append(key)
        out: dict[str, Series] = {}
        for label, members in groups.items():
            series: Series = {}
            for t in self.grid:
                lo = datetime.fromtimestamp(t, UTC)
                value = self.store.merged_statistic(members, select.stat, lo, lo + timedelta(seconds=period))
                if value is not None:
                    series[t] = value
            if series:
                out[label] = series
        if not select.group_by:
            return out.get("", {})
        ranked = sorted(out.items(), key=lambda kv: max(kv[1].values()), reverse=select.descending)
        return Contributors(dict(ranked[: select.limit] if select.limit else ranked))

    def _series(self, value: Value) -> Series:
        if isinstance(value, dict):
            return value
        if isinstance(value, float | int):
            return dict.fromkeys(self.grid, float(value))
        raise MathError("expected a single time series")

    def _map(self, value: Value, fn: Callable[[float], float]) -> Value:
        if isinstance(value, float | int):
            return fn(float(value))
        if isinstance(value, dict):
            return {t: fn(v) for t, v in value.items()}
        if isinstance(value, list):
            return [{t: fn(v) for t, v in s.items()} for s in value]
        raise MathError("cannot apply an operator to an anomaly band")

    def _combine(self, op: str, left: Value, right: Value) -> Value:
        if isinstance(left, Band) or isinstance(right, Band):
            raise MathError("an anomaly band can only be an alarm threshold")
        if isinstance(left, Contributors) or isinstance(right, Contributors):
            raise MathError("a Metrics Insights GROUP BY result cannot be combined with other values")
        if isinstance(left, list) or isinstance(right, list):
            lefts = left if isinstance(left, list) else None
            rights = right if isinstance(right, list) else None
            if lefts is not None and rights is not None:
                raise MathError(f"operator {op} between two arrays")
            if lefts is not None:
                return [self._combine_series(op, s, right) for s in lefts]
            assert rights is not None
            return [self._combine_series(op, left, s) for s in rights]
        if isinstance(left, float | int) and isinstance(right, float | int):
            result = _binary(op, float(left), float(right))
            return math.nan if result is None else result
        return self._combine_series(op, left, right)

    def _combine_series(self, op: str, left: Value, right: Value) -> Series:
        out: Series = {}
        if isinstance(left, dict) and isinstance(right, dict):
            for t in left.keys() & right.keys():
                if (r := _binary(op, left[t], right[t])) is not None:
                    out[t] = r
        elif isinstance(left, dict):
            for t, v in left.items():
                if (r := _binary(op, v, float(right))) is not None:  # type: ignore[arg-type]
                    out[t] = r
        elif isinstance(right, dict):
            for t, v in right.items():
                if (r := _binary(op, float(left), v)) is not None:  # type: ignore[arg-type]
                    out[t] = r
        return dict(sorted(out.items()))

    def _call(self, name: str, args: tuple[Node, ...]) -> Value:
        if name == "METRICS":
            part = str(args[0].value) if args else ""
            return [
                self._series(self.value(q.id))
                for q in self.queries.values()
                if q.metric is not None and part in (q.label or q.id)
            ]
        if name == "ANOMALY_DETECTION_BAND":
            return self._band(args)
        if name == "PERIOD":
            ids = referenced_ids(args[0]) if args else set()
            periods = {self.queries[i].period for i in ids if i in self.queries and self.queries[i].period}
            return float(periods.pop() or self.period) if len(periods) == 1 else float(self.period)
        if name == "FILL":
            if len(args) != 2:
                raise MathError("FILL needs a series and a value, REPEAT or LINEAR")
            return self._fill(self.eval(args[0]), args[1])
        values = [self.eval(a) for a in args]
        if name in {"SUM", "AVG", "MIN", "MAX"}:
            return self._aggregate(name, values)
        if name in {"ABS", "CEIL", "FLOOR"}:
            unary: dict[str, Callable[[float], float]] = {
                "ABS": abs,
                "CEIL": lambda x: float(math.ceil(x)),
                "FLOOR": lambda x: float(math.floor(x)),
            }
            return self._map(values[0], unary[name])
        if name == "IF":
            return self._if(values)
        raise MathError(f"metric math function {name} is not supported by the sandbox")

    def _aggregate(self, name: str, values: list[Value]) -> Value:
        reducers: dict[str, Callable[[list[float]], float]] = {
            "SUM": math.fsum,
            "AVG": statistics.fmean,
            "MIN": min,
            "MAX": max,
        }
        reduce = reducers[name]
        if len(values) == 1 and isinstance(values[0], dict):
            series = values[0]
            return reduce(list(series.values())) if series else math.nan
        members: list[Series] = []
        for v in values:
            members.extend(v if isinstance(v, list) else [self._series(v)])
        out: Series = {}
        for t in sorted({t for s in members for t in s}):
            present = [s[t] for s in members if t in s]
            out[t] = reduce(present)
        return out

    def _if(self, values: list[Value]) -> Value:
        cond = self._series(values[0])
        true_v = values[1]
        false_v = values[2] if len(values) > 2 else None
        out: Series = {}
        for t, c in cond.items():
            chosen = true_v if c else false_v
            if chosen is None:
                continue
            if isinstance(chosen, float | int):
                out[t] = float(chosen)
            elif isinstance(chosen, dict) and t in chosen:
                out[t] = chosen[t]
        return out

    def _fill(self, value: Value, how: Node) -> Series:
        series = self._series(value)
        out: Series = {}
        if how.kind == "str" and how.value == "REPEAT":
            last: float | None = None
            for t in self.grid:
                if t in series:
                    last = series[t]
                if last is not None:
                    out[t] = last
            return out
        if how.kind == "str" and how.value == "LINEAR":
            known = sorted(series.items())
            for t in self.grid:
                if t in series:
                    out[t] = series[t]
                    continue
                before = [(k, v) for k, v in known if k < t]
                after = [(k, v) for k, v in known if k > t]
                if before and after:
                    (t0, v0), (t1, v1) = before[-1], after[0]
                    out[t] = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
            return out
        filler = self.eval(how)
        fill_series = self._series(filler)
        return {
            t: series[t] if t in series else fill_series[t]
            for t in self.grid
            if t in series or t in fill_series
        }

    def _band(self, args: tuple[Node, ...]) -> Band:
        if not args or args[0].kind != "id":
            raise MathError("ANOMALY_DETECTION_BAND needs a query id as its first argument")
        width = float(self.eval(args[1])) if len(args) > 1 else self.anomaly.default_width  # type: ignore[arg-type]
        target = self.queries[str(args[0].value)]
        period = target.period or self.period
        first = self.grid[0] if self.grid else 0.0
        history_grid = [first - k * period for k in range(self.anomaly.training_periods, 0, -1)] + self.grid
        if target.metric is not None:
            history = self._metric(target, history_grid)
        else:
            wider = Evaluation(self.store, self.queries, history_grid, period, self.anomaly)
            history = wider._series(wider.value(target.id))
        lower: Series = {}
        upper: Series = {}
        for t in self.grid:
            band = self.anomaly.band(history, t, period, width)
            if band is not None:
                lower[t], upper[t] = band
        return Band(lower, upper)


_INSIGHTS = re.compile(
    r"^\s*SELECT\s+(?P<fn>AVG|COUNT|MAX|MIN|SUM)\s*\(\s*(?P<metric>\"[^\"]+\"|[A-Za-z0-9_.:/-]+)\s*\)\s+"
    r"FROM\s+(?:SCHEMA\s*\((?P<schema>[^)]*)\)|(?P<ns>\"[^\"]+\"|[A-Za-z0-9_./#:-]+))"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+GROUP\s+BY\s+(?P<group>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE,
)
_INSIGHTS_STAT = {"AVG": "Average", "COUNT": "SampleCount", "MAX": "Maximum", "MIN": "Minimum", "SUM": "Sum"}


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'" else text


@dataclass(frozen=True)
class InsightsQuery:
    """The subset of CloudWatch Metrics Insights the sandbox evaluates."""

    stat: str
    metric: str
    namespace: str
    schema_keys: tuple[str, ...] | None  # SCHEMA("ns", k…): exactly these dimension keys
    where: tuple[tuple[str, str, str], ...] = ()  # (key, operator, value)
    group_by: tuple[str, ...] = ()
    descending: bool = True
    limit: int | None = None

    def matches(self, key: MetricKey) -> bool:
        dims = dict(key.dimensions)
        if self.schema_keys is not None and set(dims) != set(self.schema_keys):
            return False
        for name, op, value in self.where:
            present = dims.get(name)
            if (op == "=" and present != value) or (op == "!=" and present == value):
                return False
        return True


def parse_insights(expression: str) -> InsightsQuery:
    """Parse `SELECT FN(metric) FROM SCHEMA(ns, keys…) | ns [WHERE k = 'v' AND …] [GROUP BY …]
    [ORDER BY …] [LIMIT n]` (FN: AVG, COUNT, MAX, MIN, SUM)."""
    match = _INSIGHTS.match(expression)
    if not match:
        raise MathError(f"Metrics Insights query {expression!r} is outside the subset the sandbox evaluates")
    if match.group("schema") is not None:
        parts = [_unquote(p) for p in match.group("schema").split(",")]
        namespace, schema_keys = parts[0], tuple(p for p in parts[1:] if p)
    else:
        namespace, schema_keys = _unquote(match.group("ns")), None
    where: list[tuple[str, str, str]] = []
    if match.group("where"):
        for clause in re.split(r"\s+AND\s+", match.group("where"), flags=re.IGNORECASE):
            cond = re.match(r"^\s*(\S+)\s*(!=|=)\s*(.+?)\s*$", clause)
            if not cond:
                raise MathError(f"Metrics Insights WHERE clause {clause!r} is not `key = 'value'`")
            where.append((_unquote(cond.group(1)), cond.group(2), _unquote(cond.group(3))))
    group = tuple(_unquote(g) for g in (match.group("group") or "").split(",") if g.strip())
    order = (match.group("order") or "").upper()
    return InsightsQuery(
        stat=_INSIGHTS_STAT[match.group("fn").upper()],
        metric=_unquote(match.group("metric")),
        namespace=namespace,
        schema_keys=schema_keys,
        where=tuple(where),
        group_by=group,
        descending=not order.endswith("ASC"),
        limit=int(match.group("limit")) if match.group("limit") else None,
    )


def grid_for(start: datetime, end: datetime, period: int) -> list[float]:
    """Epoch-aligned period starts covering [start, end)."""
    out = []
    t = period_start(start.timestamp(), period)
    while t < end.timestamp():
        out.append(t)
        t += period
    return out


def get_metric_data(
    store: MetricStore,
    raw_queries: list[Mapping[str, Any]],
    start: datetime,
    end: datetime,
    scan_by: str = "TimestampDescending",
) -> list[dict[str, Any]]:
    """GetMetricData answered from the store, in the shape moto's response serializer expects."""
    queries = {q.id: q for q in (Query.from_api(raw) for raw in raw_queries)}
    periods = [q.period for q in queries.values() if q.period]
    period = min(periods) if periods else 60
    evaluation = Evaluation(store, queries, grid_for(start, end, period), period)
    results = []
    for query in queries.values():
        if not query.return_data:
            continue
        value = evaluation.value(query.id)
        label = query.label or (query.metric.name if query.metric else query.id)
        if isinstance(value, Contributors):
            labelled = [(f"{label} {group}".strip(), series) for group, series in value.series.items()]
        elif isinstance(value, list):
            labelled = [(label, series) for series in value]
        else:
            labelled = [(label, value.upper if isinstance(value, Band) else evaluation._series(value))]
        for text, series in labelled:
            items = sorted(series.items(), reverse=scan_by != "TimestampAscending")
            results.append(
                {
                    "id": query.id,
                    "label": text,
                    "values": [v for _, v in items],
                    "timestamps": [datetime.fromtimestamp(t, UTC) for t, _ in items],
                    "status_code": "Complete",
                }
            )
    return results
