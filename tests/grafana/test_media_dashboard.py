"""The media dashboard only references metrics that exist."""

from __future__ import annotations

import json
import re

from prometheus_client import CollectorRegistry

from midstream.core.metrics import MediaMetrics
from midstream.grafana.media_dashboard import build_dashboard, queries, to_json

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def test_every_metric_in_the_dashboard_is_exported() -> None:
    registry = CollectorRegistry()
    MediaMetrics(registry)
    names = {family.name + suffix for family in registry.collect()
             for suffix in SUFFIXES[family.type]}
    used = {name for q in queries(build_dashboard())
            for name in re.findall(r"\b(midstream_[a-z_]+)\b", q)}
    assert used and used <= names, used - names


def test_json_is_importable() -> None:
    data = json.loads(to_json(build_dashboard()))
    assert data["uid"] == "midstream-media" and len({p["id"] for p in data["panels"]}) == 6
