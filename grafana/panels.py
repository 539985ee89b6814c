"""What every MidStream dashboard is built from: PromQL helpers, panels, JSON export.

Examples
--------
>>> quantile(0.5, "midstream_media_window_fps")
'histogram_quantile(0.5, sum by (le) (rate(midstream_media_window_fps_bucket[$__rate_interval])))'
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, GridPos, Target, TimeSeries

DATASOURCE = "${datasource}"


def quantile(q: float, metric: str, by: str = "", where: str = "") -> str:
    """PromQL for the ``q`` quantile of a histogram, optionally grouped ``by`` a label.

    ``where`` is a label matcher list (``route!=""``) selecting some of the series.

    >>> quantile(0.9, "x", "route", 'route!=""')
    'histogram_quantile(0.9, sum by (le, route) (rate(x_bucket{route!=""}[$__rate_interval])))'
    """
    group = f"le{', ' + by if by else ''}"
    selector = f"{{{where}}}" if where else ""
    return (f"histogram_quantile({q}, sum by ({group}) "
            f"(rate({metric}_bucket{selector}[$__rate_interval])))")


def panel(title: str, exprs: dict[str, str], unit: str, x: int, y: int) -> TimeSeries:
    """Make a time-series panel of ``{legend: expr}`` at grid position (x, y), 12 wide, 8 high."""
    return TimeSeries(
        title=title,
        dataSource=DATASOURCE,
        targets=[Target(expr=e, legendFormat=legend, refId=chr(65 + i))
                 for i, (legend, e) in enumerate(exprs.items())],
        unit=unit,
        gridPos=GridPos(h=8, w=12, x=x, y=y),
    )


def queries(dashboard: Dashboard) -> Iterator[str]:
    """Every PromQL expression in the dashboard."""
    for shown in dashboard.panels:
        for target in shown.targets:
            yield target.expr


def to_json(dashboard: Dashboard) -> str:
    """Grafana's import JSON."""
    return json.dumps(dashboard.to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True)
