"""The gateway and relay dashboard only references metrics, and labels, that exist."""

from __future__ import annotations

import json
import re

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from midstream.core.metrics import GatewayMetrics, RelayMetrics
from midstream.grafana.gateway_dashboard import build_dashboard, queries, to_json

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported() -> dict[str, set[str]]:
    """Series names the gateway and the relay export, each with its label names."""
    registry = CollectorRegistry()
    labels_of: dict[str, set[str]] = {}
    for metrics in (GatewayMetrics(registry), RelayMetrics(registry)):
        for metric in vars(metrics).values():
            if isinstance(metric, MetricWrapperBase):
                labels_of[metric._name] = set(metric._labelnames)
    return {family.name + suffix: labels_of[family.name] | ({"le"} if suffix == "_bucket"
                                                            else set())
            for family in registry.collect() for suffix in SUFFIXES[family.type]}


def series(query: str) -> set[str]:
    """The series names a query reads (``name_total``, ``name_bucket`` or a gauge's name)."""
    without_groups = re.sub(r"by \([^)]*\)", "", query)
    return set(re.findall(r"\b((?:gen_ai|midstream)_[a-z_]+?)(?=\{|\[|\))", without_groups))


def labels(query: str) -> set[str]:
    """The label names a query groups by or matches on."""
    grouped = {name.strip() for group in re.findall(r"by \(([^)]*)\)", query)
               for name in group.split(",")}
    matched = set(re.findall(r"[{,]\s*([a-z_]+)\s*[!=]~?", query))
    return grouped | matched


def test_every_series_in_the_dashboard_is_exported_with_the_labels_it_uses() -> None:
    names = exported()
    checked = 0
    for query in queries(build_dashboard()):
        used = series(query)
        assert used and used <= set(names), (query, used - set(names))
        for name in used:
            assert labels(query) <= names[name], (query, labels(query) - names[name])
        checked += 1
    assert checked == 26


def test_every_gateway_and_relay_metric_has_a_panel() -> None:
    shown = {name for q in queries(build_dashboard()) for name in series(q)}
    families = {re.sub(r"_(total|bucket)$", "", name) for name in shown}
    registry = CollectorRegistry()
    GatewayMetrics(registry)
    RelayMetrics(registry)
    assert {family.name for family in registry.collect()} <= families


def test_the_gateway_panels_never_mix_in_the_jobs_genai_series() -> None:
    for query in queries(build_dashboard()):
        if "gen_ai_" in query:
            assert '{route!=""}' in query, query


def test_json_is_importable() -> None:
    data = json.loads(to_json(build_dashboard()))
    assert data["uid"] == "midstream-gateway" and len(data["panels"]) == 10
    assert len({p["id"] for p in data["panels"]}) == 10
