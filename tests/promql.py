"""The metric names the operations side reads: every PromQL expression of the Grafana
dashboard and of the Prometheus alert rules (ops/), and the names a scrape exposes.

Both sides speak of metric families: a histogram's `_bucket`, `_sum` and `_count` series
are its family's name; a counter is named with its `_total`, as PromQL queries it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

OPS = Path(__file__).resolve().parents[1] / "ops"
DASHBOARD = OPS / "grafana" / "dashboards" / "travelbuddy.json"
ALERTS = OPS / "prometheus" / "alerts.yml"

# Series Prometheus makes itself for every target; no process exposes them.
MADE_BY_PROMETHEUS = frozenset({"up"})

_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_LEXEME = re.compile(
    rf"(?P<string>{_STRING})"
    rf"|(?P<matchers>\{{(?:[^{{}}\"'`]|{_STRING})*\}})"
    r"|(?P<range>\[[^\]]*\])"
    r"|(?P<number>(?:0[xX][0-9a-fA-F]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?)[A-Za-z]*)"
    r"|(?P<variable>\$\{?\w+\}?)"
    r"|(?P<word>[A-Za-z_:][\w:]*)"
    r"|(?P<other>\S)",
)
_NAME_MATCHER = re.compile(rf"__name__\s*=\s*(?P<name>{_STRING})")
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})
_HISTOGRAM_SERIES = re.compile(r"_(?:bucket|sum|count)$")


def family(series: str) -> str:
    """The metric family a series name belongs to (`x_bucket` -> `x`)."""
    return _HISTOGRAM_SERIES.sub("", series)


def metric_names(expression: str) -> set[str]:
    """The metric families an expression reads: the names that are not functions,
    aggregations, keywords, label names of a grouping, strings, numbers or durations."""
    lexemes = [(m.lastgroup, m.group()) for m in _LEXEME.finditer(expression)]
    names: set[str] = set()
    skip_group = False
    for index, (kind, text) in enumerate(lexemes):
        following = lexemes[index + 1][1] if index + 1 < len(lexemes) else ""
        if skip_group:
            skip_group = text != ")"
        elif kind == "matchers":
            names |= {family(m["name"][1:-1]) for m in _NAME_MATCHER.finditer(text)}
        elif kind == "word":
            if text in _GROUPING and following == "(":
                skip_group = True
            elif following != "(" and text.lower() not in _KEYWORDS | _AGGREGATIONS | _GROUPING:
                names.add(family(text))
    return names


def dashboard_expressions(dashboard: dict[str, Any] | None = None) -> list[str]:
    """Every query of every panel of the dashboard (rows included)."""
    document = dashboard or json.loads(DASHBOARD.read_text())
    panels = [*document["panels"],
              *(panel for row in document["panels"] for panel in row.get("panels", []))]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def used_names() -> set[str]:
    """The metric families the dashboard and the alert rules read."""
    expressions = [*dashboard_expressions(), *(rule["expr"] for rule in alert_rules())]
    return {name for expression in expressions for name in metric_names(expression)}


def exposed_names(exposition: str) -> set[str]:
    """The names a query can use for the families of a /metrics answer, also of families
    with no series yet (a labelled metric before its first sample)."""
    names: set[str] = set()
    for metric in text_string_to_metric_families(exposition):
        names.add(metric.name + "_total" if metric.type == "counter" else metric.name)
        names |= {family(sample.name) for sample in metric.samples}
    return names
