"""The metric names tests/promql.py reads out of PromQL, on expressions of every shape
the dashboard and the alert rules use, and out of a /metrics answer."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tests.promql import exposed_names, metric_names


@pytest.mark.parametrize(("expression", "names"), [
    ("up", {"up"}),
    ("up == 0", {"up"}),
    ('sum by (outcome) (rate(travelbuddy_commands_total{command="RequestBooking"}[5m]))',
     {"travelbuddy_commands_total"}),
    ("histogram_quantile(0.99, sum by (le, command) "
     "(rate(travelbuddy_command_duration_seconds_bucket[$__rate_interval])))",
     {"travelbuddy_command_duration_seconds"}),
    ("rate(x_seconds_sum[5m]) / rate(x_seconds_count[5m])", {"x_seconds"}),
    ('sum without (instance) (rate(a_total{reason=~"a|b", x!="}"}[1h30m] offset 5m))',
     {"a_total"}),
    ("max(lag{follower=\"relay\"}) > 0 and on () "
     "(sum(increase(handled_total{follower=\"relay\"}[5m])) or vector(0)) == 0",
     {"lag", "handled_total"}),
    ("x_total unless x_total offset 10m", {"x_total"}),
    ("a * on (job) group_left (version) build_info", {"a", "build_info"}),
    ("a / ignoring (code) group_right b", {"a", "b"}),
    ('label_replace(up, "dst", "$1", "instance", "(.*):.*")', {"up"}),
    ("topk(5, changes(process_start_time_seconds[15m])) > bool 2", {"process_start_time_seconds"}),
    ("count(count by (job) (y)) > 1e3 or 0x1F < Inf", {"y"}),
    ('{__name__="named_by_matcher_bucket", le="0.5"}', {"named_by_matcher"}),
    ("max_over_time(g[1h:5m]) @ start()", {"g"}),
    ("sum(rate(a_total[${interval}])) by (job)", {"a_total"}),
])
def test_metric_names_are_read_out_of_every_shape_of_expression(
    expression: str, names: set[str]
) -> None:
    assert metric_names(expression) == names


def test_exposed_names_name_counters_with_total_histograms_by_family_and_empty_families_too(
) -> None:
    registry = CollectorRegistry()
    Counter("c_things", "a counter with a series", registry=registry).inc()
    Counter("c_labelled_total", "a labelled counter, no series yet", ["reason"],
            registry=registry)
    Histogram("h_seconds", "a histogram", ["topic"], registry=registry).labels("t").observe(1)
    Gauge("g_open", "a gauge", registry=registry).set(3)

    exposed = exposed_names(generate_latest(registry).decode())

    assert {"c_things_total", "c_labelled_total", "h_seconds", "g_open"} <= exposed
    assert not {"h_seconds_bucket", "c_things", "c_labelled"} & exposed
