"""Write deploy/superset/assets/ (a Superset 6.1 import bundle) from the marts' dbt declarations.

    python scripts/make_superset_assets.py [--out deploy/superset/assets]

The bundle holds one database connection (the PostgreSQL mirror, read as bi_reader), a dataset per
mart below with every column described as in dbt (`dbt_project/models/marts/<mart>.yml`, and
`_marts__columns.md` for the descriptions several marts share: the one place each is written),
three charts and one dashboard "Vietnam governance rankings" with two native filters (year,
province). Identifiers are uuid5 of their names, so re-running gives the same files; a test checks
the committed files are what this script writes. The database URI carries Superset's password
mask: `deploy/superset/import_assets.py` puts the real password in at import time, so no secret is
ever written to the repository.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.fsutil import replace_dir  # noqa: E402
MODELS = ROOT / "dbt_project" / "models" / "marts"  # <mart>.yml each; shared descriptions in _marts__columns.md
OUT = ROOT / "deploy" / "superset" / "assets"
NAMESPACE = uuid.UUID("6f1c2b8e-1d7a-4e39-9d0c-6f6f7665726e")  # fixed: the bundle's ids are stable
MASK = "XXXXXXXXXX"  # Superset's own password mask in exported URIs
DATABASE = "Governance warehouse (PostgreSQL mirror)"
DATABASE_URI = f"postgresql://bi_reader:{MASK}@postgres:5432/governance"
DASHBOARD = "Vietnam governance rankings"
DATASETS = ("mart_pci_provincial_ranking", "mart_province_scorecard")
SQL_TYPES = {"integer": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE PRECISION", "double precision": "DOUBLE PRECISION", "varchar": "TEXT",
             "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP WITHOUT TIME ZONE"}
# The dashboard's native filters: (name, dataset, column, default, charts left out by their
# position's chartId, 1-3 in the order of charts(); Superset maps those ids on import). 2020 is
# the latest complete PCI table.
FILTERS = (("Year", DATASETS[0], "year", 2020, [3]),
           ("Province", DATASETS[1], "province_name", "Quảng Ninh", [1, 2]))


def uid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{name}"))


def _sql_type(dbt_type: str) -> str:
    if dbt_type.startswith("decimal"):
        return "NUMERIC" + dbt_type[len("decimal"):].replace(" ", "")
    if dbt_type not in SQL_TYPES:
        raise SystemExit(f"make_superset_assets: error: {MODELS}: data_type {dbt_type!r} has no PostgreSQL type "
                         "here: add it to SQL_TYPES")
    return SQL_TYPES[dbt_type]


DOC_REF = re.compile(r"""\{\{\s*doc\(\s*["'](\w+)["']\s*\)\s*\}\}""")
DOC_BLOCK = re.compile(r"\{%\s*docs\s+(\w+)\s*%\}(.*?)\{%\s*enddocs\s*%\}", re.S)


def _models() -> dict[str, dict]:
    """Every mart's YAML, each description as dbt renders it: a `{{ doc("name") }}` is replaced by
    its docs block's text (stripped, as dbt does)."""
    docs = {name: text.strip() for path in sorted(MODELS.glob("*.md"))
            for name, text in DOC_BLOCK.findall(path.read_text(encoding="utf-8"))}

    def rendered(text: str) -> str:
        def block(match):
            if match.group(1) not in docs:
                raise SystemExit(f"make_superset_assets: error: {MODELS}: no docs block {match.group(1)!r}")
            return docs[match.group(1)]
        return DOC_REF.sub(block, text)

    models = {}
    for path in sorted(MODELS.glob("*.yml")):
        for m in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            m["description"] = rendered(m.get("description", ""))
            for c in m.get("columns", []):
                c["description"] = rendered(c.get("description", ""))
            models[m["name"]] = m
    return models


def _text(value: str) -> str:
    return " ".join(str(value).split())


def database() -> dict:
    return {"database_name": DATABASE, "sqlalchemy_uri": DATABASE_URI, "cache_timeout": None,
            "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False, "allow_cvas": False,
            "allow_dml": False, "allow_csv_upload": False, "impersonate_user": False,
            "extra": {"allows_virtual_table_explore": True, "metadata_params": {}, "engine_params": {},
                      "schemas_allowed_for_file_upload": []},
            "uuid": uid("database", DATABASE), "version": "1.0.0"}


def dataset(model: dict) -> dict:
    columns = [{"column_name": c["name"], "verbose_name": None, "is_dttm": False, "is_active": True,
                "type": _sql_type(c["data_type"]), "advanced_data_type": None, "groupby": True, "filterable": True,
                "expression": None, "description": _text(c["description"]), "python_date_format": None,
                "extra": None} for c in model["columns"]]
    return {"table_name": model["name"], "main_dttm_col": None, "description": _text(model["description"]),
            "default_endpoint": None, "offset": 0, "cache_timeout": None, "catalog": None, "schema": "marts",
            "sql": None, "params": None, "template_params": None, "filter_select_enabled": True,
            "fetch_values_predicate": None, "extra": None, "normalize_columns": False,
            "always_filter_main_dttm": False, "folders": None, "uuid": uid("dataset", model["name"]),
            "metrics": [{"metric_name": "count", "verbose_name": "COUNT(*)", "metric_type": "count",
                         "expression": "COUNT(*)", "description": None, "d3format": None, "currency": None,
                         "extra": None, "warning_text": None}],
            "columns": columns, "version": "1.0.0", "database_uuid": uid("database", DATABASE)}


def _metric(column: str, label: str) -> dict:
    return {"expressionType": "SIMPLE", "column": {"column_name": column}, "aggregate": "MAX", "label": label,
            "hasCustomLabel": True, "optionName": f"metric_{column}"}


def _axis(column: str) -> dict:
    return {"columnType": "BASE_AXIS", "sqlExpression": column, "label": column, "expressionType": "SQL"}


def charts() -> list[tuple[str, dict]]:
    """The dashboard's charts, in chartId order: (dataset name, the chart's document with its form
    data and the query it runs)."""
    ranking, scorecard = DATASETS
    table_columns = ["rank", "province_name", "score_2dp", "rank_label", "rank_change", "tier", "year"]
    scores = [("pci_score", "PCI"), ("papi_score", "PAPI"), ("par_index_score", "PAR INDEX"),
              ("sipas_score", "SIPAS")]
    specs = [
        {"name": "PCI ranking", "dataset": ranking, "viz_type": "table",
         "description": "Every province's PCI rank, score and change against the previous ranked year, for the "
                        "year chosen in the dashboard's Year filter.",
         "params": {"query_mode": "raw", "all_columns": table_columns, "order_by_cols": ['["rank", true]'],
                    "server_pagination": False, "row_limit": 100, "include_search": True,
                    "table_timestamp_format": "smart_date", "show_cell_bars": True, "color_pn": True},
         "query": {"columns": table_columns, "orderby": [["rank", True]], "metrics": [], "row_limit": 100}},
        {"name": "PCI score by province", "dataset": ranking, "viz_type": "echarts_timeseries_bar",
         "description": "The PCI score of each province for the year chosen in the Year filter, highest first.",
         "params": {"x_axis": "province_name", "metrics": [_metric("score", "PCI score")], "groupby": [],
                    "orientation": "vertical", "x_axis_sort": "PCI score", "x_axis_sort_asc": False,
                    "row_limit": 100, "show_legend": False, "y_axis_format": ".2f", "truncateYAxis": True,
                    "y_axis_bounds": [None, None]},
         "query": {"columns": [_axis("province_name")], "metrics": [_metric("score", "PCI score")],
                   "orderby": [[_metric("score", "PCI score"), False]], "row_limit": 100}},
        {"name": "A province's indices over time", "dataset": scorecard, "viz_type": "echarts_timeseries_line",
         "description": "PCI, PAPI, PAR INDEX and SIPAS scores of the province chosen in the Province filter, "
                        "by year (each index on its own 0-100 scale).",
         "params": {"x_axis": "year", "metrics": [_metric(c, label) for c, label in scores], "groupby": [],
                    "row_limit": 100, "show_legend": True, "markerEnabled": True, "truncateYAxis": True,
                    "xAxisForceCategorical": True,
                    "y_axis_format": ".2f", "y_axis_bounds": [None, None], "x_axis_sort_asc": True},
         "query": {"columns": [_axis("year")], "metrics": [_metric(c, label) for c, label in scores],
                   "orderby": [[_axis("year"), True]], "row_limit": 100}},
    ]
    out = []
    for spec in specs:
        params = {"datasource": "0__table", "viz_type": spec["viz_type"], "adhoc_filters": [],
                  "time_range": "No filter", **spec["params"]}
        query = {"filters": [], "extras": {"having": "", "where": ""}, "applied_time_extras": {},
                 "annotation_layers": [], "series_limit": 0, "url_params": {}, "custom_params": {},
                 "custom_form_data": {}, "time_range": "No filter", **spec["query"]}
        context = {"datasource": {"id": 0, "type": "table"}, "force": False, "queries": [query],
                   "form_data": params, "result_format": "json", "result_type": "full"}
        out.append((spec["dataset"], {"slice_name": spec["name"], "description": spec["description"], "certified_by": None,
                    "certification_details": None, "viz_type": spec["viz_type"], "params": params,
                    "query_context": json.dumps(context, ensure_ascii=False, sort_keys=True),
                    "cache_timeout": None, "uuid": uid("chart", spec["name"]), "version": "1.0.0",
                    "dataset_uuid": uid("dataset", spec["dataset"])}))
    return out


def _filter(name: str, dataset_name: str, column: str, value, excluded: list[int]) -> dict:
    return {"id": "NATIVE_FILTER-" + uid("filter", name)[:8], "name": name, "filterType": "filter_select",
            "targets": [{"datasetUuid": uid("dataset", dataset_name), "column": {"name": column}}],
            "controlValues": {"multiSelect": False, "enableEmptyFilter": True, "defaultToFirstItem": False,
                              "inverseSelection": False, "searchAllOptions": False, "sortAscending": False},
            "defaultDataMask": {"extraFormData": {"filters": [{"col": column, "op": "IN", "val": [value]}]},
                                "filterState": {"value": [value]}},
            "cascadeParentIds": [], "scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
            "type": "NATIVE_FILTER", "description": f"Choose the {name.lower()} the charts show."}


def dashboard(chart_list: list[dict]) -> dict:
    position: dict = {"DASHBOARD_VERSION_KEY": "v2",
                      "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
                      "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
                      "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": DASHBOARD}}}
    rows = [[(1, chart_list[0]), (2, chart_list[1])], [(3, chart_list[2])]]  # (chartId, chart)
    for r, row in enumerate(rows):
        row_id = f"ROW-{r + 1}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {"type": "ROW", "id": row_id, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                            "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for c, (number, chart) in enumerate(row):
            chart_id = f"CHART-{r + 1}{c + 1}"
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {"type": "CHART", "id": chart_id, "children": [],
                                  "parents": ["ROOT_ID", "GRID_ID", row_id],
                                  "meta": {"width": 12 // len(row), "height": 60, "sliceName": chart["slice_name"],
                                           "uuid": chart["uuid"], "chartId": number}}
    metadata = {"native_filter_configuration": [_filter(*spec) for spec in FILTERS],
                "color_scheme": "", "refresh_frequency": 0, "expanded_slices": {}, "label_colors": {},
                "shared_label_colors": [], "color_scheme_domain": [], "cross_filters_enabled": False,
                "timed_refresh_immune_slices": [], "default_filters": "{}", "chart_configuration": {},
                "global_chart_configuration": {"scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                                               "chartsInScope": []}}
    return {"dashboard_title": DASHBOARD, "description": None, "css": "", "slug": "governance-rankings",
            "certified_by": "", "certification_details": "", "published": True, "uuid": uid("dashboard", DASHBOARD),
            "position": position, "metadata": metadata, "version": "1.0.0"}


def bundle() -> dict[str, dict]:
    """Path inside the bundle -> the YAML document."""
    models = _models()
    files = {"metadata.yaml": {"version": "1.0.0", "type": "assets",
                               "timestamp": "2026-12-02T00:00:00+00:00"},
             "databases/governance_mirror.yaml": database()}
    for name in DATASETS:
        files[f"datasets/governance_mirror/{name}.yaml"] = dataset(models[name])
    placed = charts()
    named = [(f"filter {name!r}", dataset_name, {column}) for name, dataset_name, column, _d, _x in FILTERS]
    for dataset_name, chart in placed:
        columns = set(re.findall(r'"(?:column_name|sqlExpression|col)": "(\w+)"', chart["query_context"]))
        columns |= set(chart["params"].get("all_columns", [])) | {chart["params"].get("x_axis")} - {None}
        named.append((f"chart {chart['slice_name']!r}", dataset_name, columns))
        files[f"charts/{chart['slice_name'].replace(' ', '_').replace(chr(39), '')}.yaml"] = chart
    for what, dataset_name, columns in named:  # every column a chart or filter names is one of its dataset
        unknown = columns - {c["name"] for c in models[dataset_name]["columns"]}
        if unknown:
            raise SystemExit(f"make_superset_assets: error: {what} names columns {sorted(unknown)} that "
                             f"{dataset_name} does not have ({MODELS})")
    files["dashboards/governance_rankings.yaml"] = dashboard([chart for _dataset, chart in placed])
    return files


def render(document: dict) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=True, width=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    out = ap.parse_args().out
    files = bundle()
    staging = out.with_name(out.name + ".incoming")  # written whole beside it, then swapped in
    shutil.rmtree(staging, ignore_errors=True)
    for path, document in files.items():
        target = staging / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(document), encoding="utf-8")
    replace_dir(staging, out)
    print(f"wrote {len(files)} files to {out}")


if __name__ == "__main__":
    main()
