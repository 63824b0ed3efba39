"""Prepare the report's province maps from ../shared/geo, once: ingest/static/maps/provinces.json.

    python scripts/make_map_asset.py [--geo ../shared/geo]

Input: the geoBoundaries VNM ADM1 file (63 provinces of 2008-2025; CC BY 4.0, source geometry
public domain), joined on ISO 3166-2 codes to GSO codes through vn_provinces_63_crosswalk.csv,
and the 34-unit file this project's data folder derived from it for units from 2025-07-01.
Côn Đảo (a separate feature carrying VN-43) is drawn with Bà Rịa - Vũng Tàu; the Hoàng Sa and
Trường Sa islands stay inside Đà Nẵng and Khánh Hòa as in the source.

Output: one SVG path per unit, projected (equirectangular, scaled by cos 16° N) onto a
1000-unit-wide canvas and simplified for the web by quantising every vertex to a grid of
GRID canvas units and dropping repeated points. Quantising is what topojson does: a vertex two
provinces share lands on the same grid point in both, so shared borders stay shared and no gaps
open (no per-ring simplification that could move one side of a border and not the other).
Rings that collapse below three points (tiny islets) are dropped. The asset carries the
attribution line that must appear under every map.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "ingest" / "static" / "maps" / "provinces.json"
WIDTH = 1000.0
GRID = 1.0  # canvas units: ~1.4 km at this scale
ATTRIBUTION = ("Boundaries: geoBoundaries (www.geoboundaries.org), VNM ADM1 2008, build 2023-12-12 — Runfola et al. "
               "(2020) PLoS ONE 15(4): e0231866; CC BY 4.0 (source geometry public domain). 2025 provinces dissolved "
               "from it by this project.")


def rings(geometry: dict):
    if geometry["type"] == "Polygon":
        yield from geometry["coordinates"]
    elif geometry["type"] == "MultiPolygon":
        for polygon in geometry["coordinates"]:
            yield from polygon
    else:
        raise ValueError(f"unexpected geometry {geometry['type']}")


class Projection:
    def __init__(self, features: list[dict]):
        lons = [p[0] for f in features for r in rings(f["geometry"]) for p in r]
        lats = [p[1] for f in features for r in rings(f["geometry"]) for p in r]
        self.k = math.cos(math.radians(16.0))
        self.lon0, self.lat1 = min(lons), max(lats)
        self.scale = WIDTH / ((max(lons) - min(lons)) * self.k)
        self.height = (max(lats) - min(lats)) * self.scale

    def __call__(self, lon: float, lat: float) -> tuple[int, int]:
        x = (lon - self.lon0) * self.k * self.scale
        y = (self.lat1 - lat) * self.scale
        return round(x / GRID), round(y / GRID)


def path(geometries: list[dict], project: Projection) -> tuple[str, int]:
    parts, points = [], 0
    for geometry in geometries:
        for ring in rings(geometry):
            pts: list[tuple[int, int]] = []
            for lon, lat, *_ in ring:
                p = project(lon, lat)
                if not pts or pts[-1] != p:
                    pts.append(p)
            if len(pts) > 1 and pts[0] == pts[-1]:
                pts.pop()
            if len(set(pts)) < 3:
                continue
            points += len(pts)
            x0, y0 = pts[0]
            moves = "".join(f"l{x - px} {y - py}" for (px, py), (x, y) in zip(pts, pts[1:]))
            parts.append(f"M{x0} {y0}{moves}z")
    return "".join(parts), points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--geo", type=Path, default=ROOT.parent / "shared" / "geo")
    args = ap.parse_args()
    src63 = json.loads((args.geo / "geoBoundaries-VNM-ADM1.geojson").read_text(encoding="utf-8"))
    src34 = json.loads((args.geo / "vn_provinces_34_derived.geojson").read_text(encoding="utf-8"))
    with open(args.geo / "vn_provinces_63_crosswalk.csv", encoding="utf-8", newline="") as f:
        gso = {row["iso_3166_2"]: row["gso_code"] for row in csv.DictReader(f)}
    project = Projection(src63["features"])

    by_iso: dict[str, list[dict]] = {}
    for feature in src63["features"]:
        by_iso.setdefault(feature["properties"]["shapeISO"], []).append(feature["geometry"])
    if sorted(by_iso) != sorted(gso):
        raise SystemExit(f"ISO codes differ from the crosswalk: {sorted(set(by_iso) ^ set(gso))}")
    maps = {"63": {}, "34": {}}
    vertices = {"63": 0, "34": 0}
    for iso, geometries in by_iso.items():
        d, n = path(geometries, project)
        maps["63"][gso[iso]] = d
        vertices["63"] += n
    for feature in src34["features"]:
        d, n = path([feature["geometry"]], project)
        maps["34"][feature["properties"]["code_2025"]] = d
        vertices["34"] += n
    asset = {"width": WIDTH, "height": math.ceil(project.height), "grid": GRID, "attribution": ATTRIBUTION,
             "licence": "CC BY 4.0 (geoBoundaries); source geometry public domain",
             "source": "geoBoundaries-VNM-ADM1.geojson sha256 25dbc2fe…9541; vn_provinces_34_derived.geojson "
                       "sha256 62f6e0c5…d28d3 (../shared/geo, see PROVENANCE.md there)",
             "units": maps}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(asset, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n",
                   encoding="utf-8")
    print(f"{len(maps['63'])} provinces ({vertices['63']:,} vertices), {len(maps['34'])} units of 2025 "
          f"({vertices['34']:,} vertices) -> {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
