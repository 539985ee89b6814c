"""The dashboard only references metrics that exist."""

from __future__ import annotations

import json
import re

from prometheus_client import CollectorRegistry

from midstream.core.metrics import LlmStreamMetrics
from midstream.grafana.llm_stream_dashboard import build_dashboard, queries, to_json

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
LABELS = {"gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"}


def exported_names() -> set[str]:
    """Series names the registry exports (labelled metrics export none until used)."""
    registry = CollectorRegistry()
    LlmStreamMetrics(registry)
    return {family.name + suffix for family in registry.collect()
            for suffix in SUFFIXES[family.type]}


def test_every_metric_in_the_dashboard_is_exported():
    names = exported_names()
    used = {name for q in queries(build_dashboard())
            for name in re.findall(r"\b((?:gen_ai|midstream)_[a-z_]+)\b", q)} - LABELS
    assert used
    assert used <= names, used - names


def test_json_is_importable():
    data = json.loads(to_json(build_dashboard()))
    assert data["uid"] == "midstream-llm" and len(data["panels"]) == 8
    assert len({p["id"] for p in data["panels"]}) == 8


def test_genai_panels_leave_out_the_gateways_series_of_the_same_names() -> None:
    from midstream.core import metrics as m
    from midstream.grafana.llm_stream_dashboard import build_dashboard, queries

    shared = (m.TIME_TO_FIRST_CHUNK, m.TIME_PER_OUTPUT_CHUNK, m.OPERATION_DURATION, m.TOKEN_USAGE)
    genai = [q for q in queries(build_dashboard()) if any(name in q for name in shared)]
    assert genai
    assert all('route=""' in q for q in genai), genai
