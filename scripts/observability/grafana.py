"""Small builders for Grafana dashboard JSON (schema of Grafana 12), plain dicts in, dicts out.

Every panel and query uses the `${datasource}` variable, never a data source uid, so a dashboard
imports into any Grafana that has a Prometheus data source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from observability.config import SCHEMA_VERSION

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = "__auto"
    instant: bool = False  # a single value per series (stats, bar gauges, tables)
    table: bool = False  # one row per series with its labels as columns


@dataclass(frozen=True)
class Panel:
    """A panel before layout: its size, and the JSON Grafana needs apart from id and position."""

    body: Json
    width: int
    height: int
    queries: tuple[Query, ...] = field(default=())


def target(query: Query, ref_id: str) -> Json:
    rendered: Json = {
        "refId": ref_id,
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": query.expr,
        "legendFormat": query.legend,
        "range": not query.instant,
        "instant": query.instant,
    }
    if query.table:
        rendered["format"] = "table"
    return rendered


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


GREEN_ONLY = thresholds((None, "green"))


def _panel(
    kind: str,
    title: str,
    description: str,
    queries: tuple[Query, ...],
    *,
    width: int,
    height: int,
    defaults: Json,
    options: Json,
    colours: Mapping[str, str] | None = None,
) -> Panel:
    # A series named like a key of `colours` (a category) gets that fixed colour.
    overrides = [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for name, colour in (colours or {}).items()
    ]
    body: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(q, chr(ord("A") + i)) for i, q in enumerate(queries)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": options,
    }
    return Panel(body, width, height, queries)


def timeseries(
    title: str,
    description: str,
    *queries: Query,
    unit: str = "short",
    stacked: bool = False,
    bars: bool = False,
    line_at: float | None = None,
    max_value: float | None = None,
    width: int = 12,
    height: int = 8,
    colours: Mapping[str, str] | None = None,
) -> Panel:
    """A time series; `line_at` draws a threshold (the alert's, usually) as a dashed red line."""
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if stacked or bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
        "thresholdsStyle": {"mode": "off" if line_at is None else "dashed"},
    }
    steps = GREEN_ONLY if line_at is None else thresholds((None, "green"), (line_at, "red"))
    defaults: Json = {
        "unit": unit,
        "min": 0,
        "color": {"mode": "palette-classic"},
        "custom": custom,
        "thresholds": steps,
    }
    if max_value is not None:
        defaults["max"] = max_value
    options: Json = {
        "legend": {
            "displayMode": "table",
            # A table legend beside the graph only where the panel spans the whole width.
            "placement": "right" if width == GRID_WIDTH else "bottom",
            "showLegend": True,
            "calcs": ["max", "lastNotNull"],
            "sortBy": "Max",
            "sortDesc": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return _panel(
        "timeseries",
        title,
        description,
        queries,
        width=width,
        height=height,
        defaults=defaults,
        options=options,
        colours=colours,
    )


def stat(
    title: str,
    description: str,
    query: Query,
    *,
    unit: str = "short",
    steps: Json = GREEN_ONLY,
    mappings: tuple[Json, ...] = (),
    width: int = 4,
    height: int = 4,
) -> Panel:
    defaults: Json = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": steps,
        "mappings": list(mappings),
    }
    options: Json = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "textMode": "auto",
        "orientation": "auto",
    }
    instant = Query(query.expr, query.legend, instant=True)
    return _panel(
        "stat",
        title,
        description,
        (instant,),
        width=width,
        height=height,
        defaults=defaults,
        options=options,
    )


def bar_gauge(
    title: str,
    description: str,
    query: Query,
    *,
    unit: str = "short",
    width: int = 8,
    height: int = 8,
    colours: Mapping[str, str] | None = None,
) -> Panel:
    defaults: Json = {"unit": unit, "min": 0, "color": {"mode": "continuous-BlYlRd"}}
    defaults["thresholds"] = GREEN_ONLY
    options: Json = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "orientation": "horizontal",
        "showUnfilled": True,
        "valueMode": "color",
        "namePlacement": "auto",
        "sizing": "auto",
    }
    instant = Query(query.expr, query.legend, instant=True)
    return _panel(
        "bargauge",
        title,
        description,
        (instant,),
        width=width,
        height=height,
        defaults=defaults,
        options=options,
        colours=colours,
    )


def table(title: str, description: str, query: Query, *, width: int, height: int) -> Panel:
    """Series labels as columns, e.g. build information."""
    instant = Query(query.expr, query.legend, instant=True, table=True)
    options: Json = {"showHeader": True, "cellHeight": "sm"}
    panel = _panel(
        "table",
        title,
        description,
        (instant,),
        width=width,
        height=height,
        defaults={"thresholds": GREEN_ONLY},
        options=options,
    )
    panel.body["transformations"] = [
        {
            "id": "organize",
            "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}},
        }
    ]
    return panel


def row(title: str) -> Panel:
    return Panel({"type": "row", "title": title, "collapsed": False, "panels": []}, GRID_WIDTH, 1)


def value_mapping(value: int, text: str, color: str) -> Json:
    """Show `text` for `value`; the value doubles as the mapping's order."""
    return {
        "type": "value",
        "options": {str(value): {"text": text, "color": color, "index": value}},
    }


def layout(panels: list[Panel]) -> list[Json]:
    """Flow the panels left to right, wrapping at the grid width; rows start a new line."""
    placed: list[Json] = []
    x = y = line_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        if panel.body["type"] == "row" or x + panel.width > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        grid = {"h": panel.height, "w": panel.width, "x": x, "y": y}
        placed.append({"id": panel_id, "gridPos": grid, **panel.body})
        x += panel.width
        line_height = max(line_height, panel.height)
        if panel.body["type"] == "row":
            x, y, line_height = 0, y + panel.height, 0
    return placed


def datasource_variable() -> Json:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def label_variable(name: str, label: str, metric: str, label_name: str) -> Json:
    """A multi-value variable of one label's values; "All" is the regex `.*`."""
    definition = f"label_values({metric}, {label_name})"
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": definition,
        "query": {"query": definition, "refId": f"{name}-variable"},
        "refresh": 2,  # on time range change: new projects appear without a reload
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "regex": "",
        "hide": 0,
        "options": [],
    }


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    tags: tuple[str, ...],
    variables: list[Json],
    panels: list[Panel],
    time_from: str,
    refresh: str,
) -> Json:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": list(tags),
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,  # shared crosshair
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "refresh": refresh,
        "annotations": {"list": [_builtin_annotations()]},
        "links": [
            {
                "type": "dashboards",
                "title": "Run:ai dashboards",
                "tags": ["runai"],
                "asDropdown": False,
                "includeVars": False,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
            }
        ],
        "templating": {"list": variables},
        "panels": layout(panels),
    }


def _builtin_annotations() -> Json:
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
