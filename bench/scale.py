"""Scale harness: the pipeline on N times today's data. Prints figures, asserts nothing.

    make bench SCALE=10        # or: .venv/bin/python bench/scale.py --scale 10

SYNTHETIC DATA. At scale N the harness adds one synthetic publication, `synthetic-commune-index`
(indicator `synthetic_commune`, every name and title says SYNTHETIC), with N times as many
figures as the embedded data holds: a commune-level index of thousands of units over 20 years
(2005-2024) with an overall score and 30 components, published ranks with ties, a partial last
year (one unit in five unpublished) and a unit that ceases to exist (its last year is 2014).
The values are a deterministic hash of (unit, component, year): no figure is real.

Everything happens in its own folder, bench/work/scale<N> (never the serving warehouse):
  1. a copy of dbt_project whose seeds register the synthetic units, indicator and components
     (provinces.csv, indicators.csv, components.csv), so name checks and every dbt test run as usual;
  2. the synthetic publication as a raw file: a tidy bundle (gzipped CSV in the tidy schema,
     written by DuckDB) registered through GOVWH_CATALOGUE_EXTRA (catalogue.json beside it, with
     the units expected each year);
  3. the real steps, each in a fresh process with its wall time and peak memory: fetch and land
     (the embedded data and the synthetic file, by content hash), parse (the synthetic file by the
     tidy_bundle parser: every guard in DuckDB, every distinct unit name resolved against the
     harness's seeds), `govwh build` (dbt build with all tests, then the serving file and its
     receipt; dbt's own execution phase is recorded too, from run_results.json), publish, report;
  4. the floor: the same compiled SQL (every model, then every data test) run in one bare DuckDB
     process on the same inputs, seeds copied from the build (bench/floor.py);
  5. the lean floor: the marts' core work (preferred figure per fact, ranks, rank changes,
     percentiles, streaks, per-table statistics, key checks) as minimal hand-written SQL
     (bench/lean_floor.sql) on the same parsed Parquet and seeds, in one bare DuckDB process with the
     same memory limit (bench/lean_floor.py); its result tables' row counts are printed beside the marts'.
  6. with PostgreSQL's server binaries here (and N <= 10, or --postgres): the same dbt build on a
     throwaway PostgreSQL (ingest/pg_local.py), `govwh build-postgres`: the parsed tables loaded
     with COPY, then `dbt build --target postgres` with all tests; its time beside DuckDB's.
Results go to bench/results/<date>-scale<N>.json.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench import measure  # noqa: E402  (bench/bench.py: a command's wall time and peak memory)

PY = sys.executable
PUBLICATION = "synthetic-commune-index"
INDICATOR = "synthetic_commune"
YEARS = range(2005, 2025)  # 20 years
COMPONENTS = 30
CEASES_AFTER = 2014  # the first synthetic unit's last year
PARTIAL_YEAR = 2024  # one unit in five unpublished


def units_for(scale: int, base_facts: int) -> int:
    """Units so that units x years x (overall + components) is about scale x today's facts."""
    return max(10, round(scale * base_facts / (len(YEARS) * (COMPONENTS + 1))))


def unit_key(i: int) -> str:
    return f"X{i:05d}"


def write_seeds(project: Path, units: int) -> None:
    """Register the synthetic units, the indicator and its components in the harness's seeds."""
    seeds = project / "seeds"
    with open(seeds / "provinces.csv", "a", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for i in range(1, units + 1):
            name = f"Xã Tổng Hợp {i:05d}"  # "synthetic commune"
            ended = f"{CEASES_AFTER}-12-31" if i == 1 else ""
            w.writerow([unit_key(i), unit_key(i), name, f"{name} (SYNTHETIC)", f"Xa Tong Hop {i:05d}",
                        f"Synthetic commune {i:05d}", "SYNTHETIC", "SYNTHETIC", "", ended,
                        "SYNTHETIC (scale harness)", "SYNTHETIC: bench/scale.py, not a real unit"])
    with open(seeds / "indicators.csv", "a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow([
            INDICATOR, "SYNTHETIC commune-level index (scale harness)", "Chỉ số cấp xã TỔNG HỢP (SYNTHETIC)",
            "SYNTHETIC: bench/scale.py", "province", 0, 100, YEARS[0], "points (SYNTHETIC)", "true"])
    with open(seeds / "components.csv", "a", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([INDICATOR, "overall", "", "overall", 0, "SYNTHETIC overall", "Tổng (SYNTHETIC)", 0, 100])
        for c in range(1, COMPONENTS + 1):
            w.writerow([INDICATOR, f"c{c:02d}", "overall", "sub_index", c, f"SYNTHETIC component {c}",
                        f"Thành phần {c} (SYNTHETIC)", 0, 10])


SOURCES_YML = """version: 2
# SYNTHETIC: written by bench/scale.py into its own copy of the project
sources:
  - name: synthetic
    tables:
      - name: commune_scores
        meta:
          external_location: "read_parquet('{{ env_var('GOVWH_PARSED_DIR') }}/%s/*.parquet')"
models:
  - name: stg_synthetic__commune_scores
    columns:
      - name: indicator_code
        data_tests:
          - accepted_values: {arguments: {values: ["%s"]}}
    data_tests:
      - unique_combination: {arguments: {columns: [publication_id, year, province_key, component_code]}}
""" % (INDICATOR, INDICATOR)


def write_staging(project: Path) -> None:
    """The synthetic publication's staging model: the PCI staging model's SQL on its own source,
    listed in var('publisher_staging_models') so the intermediate models union it as they do PCI's."""
    import yaml

    folder = project / "models" / "staging" / "synthetic"
    folder.mkdir(parents=True)
    sql = (project / "models" / "staging" / "vcci" / "stg_vcci__pci_scores.sql").read_text(encoding="utf-8")
    (folder / "stg_synthetic__commune_scores.sql").write_text(
        sql.replace("source('vcci', 'pci_scores')", "source('synthetic', 'commune_scores')"), encoding="utf-8")
    (folder / "_synthetic__sources.yml").write_text(SOURCES_YML, encoding="utf-8")
    config_path = project / "dbt_project.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["vars"]["publisher_staging_models"].append("stg_synthetic__commune_scores")
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


SYNTHETIC_SQL = """
with units as (select range + 1 as i from range(?)),
years as (select range as year from range(?, ?)),
comps as (select range as c from range(0, ?)),
grid as (
    select i, year, c,
           -- a deterministic pseudo-random number in [0, 1) per (unit, component, year)
           (hash(i, c, year) % 1000000) / 1000000.0 as u
    from units, years, comps
    where not (i = 1 and year > ?)                                      -- the unit that ceases to exist
      and not (year = ? and i % 5 = 0)                                  -- the partial year
),
scored as (
    select i, year, c,
           case when c = 0 then round(40 + 40 * u, 1) else round(10 * u, 2) end as value  -- 1 decimal: ties
    from grid
)
select ? as publication_id, ? as indicator, 'province' as level, year,
       format('Xã Tổng Hợp {:05d}', i) as unit_name, format('X{:05d}', i) as unit_code,
       case when c = 0 then 'overall' else format('c{:02d}', c) end as component_code,
       case when c = 0 then 'SYNTHETIC overall' else format('SYNTHETIC component {}', c) end as component_name,
       value, 'published' as value_status,
       case when c = 0 then rank() over (partition by year, c order by value desc) end as rank,
       null::varchar as tier,
       ? as source_file, ? as source_sha256, 'SYNTHETIC' as sheet,
       format('R{}C{}', i, c + 2) as cell, 'score' as grain, 'unit' as row_kind,
       null::double as ci_low, null::double as ci_high, null::double as standard_error
from scored
order by year, component_code, i
"""


def units_per_year(units: int) -> dict[int, int]:
    """Units with a figure each year: all of them, less the ceased one after CEASES_AFTER, less one in
    five (i % 5 == 0) in the partial year."""
    return {y: units - (y > CEASES_AFTER) - (units // 5 if y == PARTIAL_YEAR else 0) for y in YEARS}


def write_synthetic(folder: Path, units: int, scale: int) -> tuple[Path, int]:
    """The synthetic publication as a raw file (a tidy bundle) and the catalogue entry registering
    it (catalogue.json, for GOVWH_CATALOGUE_EXTRA). Returns the catalogue's path and the row count."""
    import duckdb

    from ingest.config import tune
    from ingest.tidy import COLUMNS

    folder.mkdir(parents=True, exist_ok=True)
    name = f"{PUBLICATION}.csv.gz"
    con = tune(duckdb.connect(), spill=folder / "spill")  # the pipeline's limit (4 GB without one, at N = 100)
    try:
        sql = SYNTHETIC_SQL
        params = [units, YEARS[0], YEARS[-1] + 1, COMPONENTS + 1, CEASES_AFTER, PARTIAL_YEAR,
                  PUBLICATION, INDICATOR, name, f"synthetic-scale{scale}"]
        columns = [d[0] for d in con.execute(f"DESCRIBE {sql}", params).fetchall()]
        assert columns == COLUMNS, columns  # the tidy schema, in its order
        con.execute(f"COPY ({sql}) TO ? (FORMAT csv, HEADER, COMPRESSION gzip)", params + [str(folder / name)])
        rows = con.execute("select count(*) from read_csv(?)", [str(folder / name)]).fetchone()[0]
    finally:
        con.close()
    per_year = units_per_year(units)
    entry = {
        "id": PUBLICATION, "indicator": INDICATOR, "level": "province", "years": list(YEARS),
        "publisher": "SYNTHETIC: bench/scale.py", "licence": "SYNTHETIC, not for use",
        "title": "SYNTHETIC commune-level index (scale harness; no figure is real)",
        "file": name, "expected_units": units,
        "units_per_year": {str(y): n for y, n in per_year.items() if n != units},
    }
    catalogue = folder / "catalogue.json"
    catalogue.write_text(json.dumps({"publications": [entry]}, indent=1, ensure_ascii=False), encoding="utf-8")
    return catalogue, rows


def base_facts() -> int:
    """Today's figures: the rows of the embedded bundles (the publishers' files; the 1,627 curated
    figures are left out of the count)."""
    import duckdb

    from ingest.config import BUNDLE_DIR

    con = duckdb.connect()
    try:
        return con.execute("select count(*) from read_csv(?, header=true, all_varchar=true)",
                           [str(BUNDLE_DIR / "*.csv.gz")]).fetchone()[0]
    finally:
        con.close()


def run_scale(scale: int, keep: bool = False, work_root: Path | None = None, postgres: bool | None = None) -> dict:
    from ingest.config import DBT_PROJECT_DIR

    work = (work_root or REPO / "bench" / "work") / f"scale{scale}"
    shutil.rmtree(work, ignore_errors=True)
    project = work / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", ".user.yml"))
    data_dir = work / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    env.update(GOVWH_DATA_DIR=str(data_dir), GOVWH_DBT_PROJECT_DIR=str(project),
               GOVWH_DBT_UNIT_TESTS="1",  # "all tests", as every earlier figure of the harness
               DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    govwh = [PY, "-m", "ingest"]
    steps: dict[str, dict] = {}

    def step(name: str, cmd: list[str]) -> None:
        wall, peak = measure(cmd, env)
        steps[name] = {"seconds": round(wall, 2), "peak_mib": round(peak)}
        print(f"  scale {scale:>3}  {name:<34} {wall:>8.2f} s {peak:>7.0f} MiB", flush=True)

    base = base_facts()
    units = units_for(scale, base)
    write_seeds(project, units)
    write_staging(project)
    started = time.perf_counter()
    registered, synthetic = write_synthetic(work / "synthetic", units, scale)
    size = (registered.parent / f"{PUBLICATION}.csv.gz").stat().st_size
    steps["write the synthetic raw file"] = {"seconds": round(time.perf_counter() - started, 2),
                                             "bytes": size}
    print(f"  scale {scale:>3}  {synthetic:,} synthetic figures ({units:,} units x {len(YEARS)} years x "
          f"{COMPONENTS + 1} components, less a partial year and a ceased unit; {size / 2 ** 20:,.1f} MiB "
          f"gzipped) + {base:,} real", flush=True)
    env.update(GOVWH_CATALOGUE_EXTRA=str(registered), GOVWH_MAX_BYTES=str(max(size * 2, 50 * 2 ** 20)))
    step("fetch and land", govwh + ["fetch"])
    step("parse", govwh + ["parse"])
    step("dbt build (all tests)", govwh + ["build"])
    step("publish", govwh + ["publish"])
    step("report", govwh + ["report"])
    step("floor: compiled SQL in bare DuckDB", [PY, str(REPO / "bench" / "floor.py"), str(data_dir / "build"),
                                                 _memory_limit(project)])
    floor = json.loads((data_dir / "build" / "floor.json").read_text())
    step("lean floor: minimal SQL", [PY, str(REPO / "bench" / "lean_floor.py"), str(data_dir / "build"),
                                      _memory_limit(project), "--parsed", str(data_dir / "parsed")])
    lean = json.loads((data_dir / "build" / "lean_floor.json").read_text())
    print(f"  scale {scale:>3}  lean floor rows (lean / marts): " + ", ".join(
        f"{name} {n['lean']:,} / {n['marts']:,}" for name, n in lean["compared_rows"].items()), flush=True)
    build = steps["dbt build (all tests)"]["seconds"]  # `govwh build`: dbt build, then the serving file
    # the dbt process alone (start-up, parse, every model and test) and the serving file, from the receipt
    timings = json.loads((data_dir / "build" / "receipt.json").read_text())["seconds"]
    # dbt's own execution phase (after its start-up and parse), from run_results.json
    executed = json.loads((data_dir / "build" / "target" / "run_results.json").read_text())["elapsed_time"]

    on_postgres = (_postgres_build(scale, env, step, steps, executed)
                   if (scale <= 10 if postgres is None else postgres) else None)

    def ratio(seconds: float, to: dict = floor) -> float | None:
        return round(seconds / to["seconds"], 2) if to["seconds"] else None

    result = {
        "date": dt.date.today().isoformat(), "scale": scale, "machine": _machine(),
        "synthetic": True, "facts": {"real": base, "synthetic": synthetic, "total": base + synthetic},
        "units": units, "steps": steps, "floor": floor,
        "dbt_seconds": timings["dbt"], "serving_file_seconds": timings["serving_file"],
        "dbt_execution_seconds": round(executed, 2),
        "dbt_build_to_floor": ratio(timings["dbt"]),
        "dbt_execution_to_floor": ratio(executed),
        "govwh_build_to_floor": ratio(build),
        "lean_floor": lean,
        "dbt_build_to_lean_floor": ratio(timings["dbt"], lean),
        "govwh_build_to_lean_floor": ratio(build, lean),
        "floor_to_lean_floor": ratio(floor["seconds"], lean),
        "warehouse_mib": round((data_dir / "governance.duckdb").stat().st_size / 2 ** 20, 1),
        "postgres": on_postgres,
    }
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _postgres_build(scale: int, env: dict, step, steps: dict, duckdb_executed: float) -> dict | None:
    """`govwh build-postgres` on a throwaway PostgreSQL: the load and build's time, dbt's execution
    phase (its run_results.json) against the DuckDB build's (duckdb_executed seconds); None without
    PostgreSQL's server binaries."""
    import subprocess

    from ingest.pg_local import create_database, server_bindir, throwaway_cluster

    bindir = server_bindir()
    if bindir is None:
        print(f"  scale {scale:>3}  PostgreSQL build skipped: no server binaries (Debian's postgresql)", flush=True)
        return None
    with throwaway_cluster(bindir) as admin:
        dsn = create_database(admin, "warehouse")
        step("PostgreSQL: load + dbt build (all tests)", [PY, "-m", "ingest", "build-postgres", "--dsn", dsn])
        version = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True).stdout
    results = Path(env["GOVWH_DATA_DIR"]) / "build-postgres" / "target" / "run_results.json"
    executed = json.loads(results.read_text())["elapsed_time"]
    return {"server": version.strip(), "seconds": steps["PostgreSQL: load + dbt build (all tests)"]["seconds"],
            "dbt_execution_seconds": round(executed, 2),
            "dbt_execution_to_duckdb": round(executed / duckdb_executed, 2),
            "note": "the server runs on this machine; the peak memory is govwh's and dbt's, not the server's"}


def save(result: dict, out_dir: Path) -> Path:
    """bench/results/<date>-scale<N>.json (or out_dir/...)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{result['date']}-scale{result['scale']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _memory_limit(project: Path) -> str:
    import yaml

    profile = yaml.safe_load((project / "profiles.yml").read_text(encoding="utf-8"))
    return str(profile["governance"]["outputs"]["build"].get("settings", {}).get("memory_limit", ""))


def _machine() -> str:
    import platform

    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, action="append", help="N (repeatable; default 1)")
    parser.add_argument("--keep", action="store_true", help="keep bench/work/scale<N> afterwards")
    parser.add_argument("--work", type=Path, help="folder for the scale<N> work folders (default bench/work)")
    parser.add_argument("--results", type=Path, help="folder for the JSON results (default bench/results)")
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=None,
                        help="also build on a throwaway PostgreSQL (default: at N <= 10, where its binaries exist)")
    args = parser.parse_args()
    out_dir = args.results or REPO / "bench" / "results"
    for scale in args.scale or [1]:
        if not 1 <= scale <= 1000:
            raise SystemExit(f"--scale must be 1..1000, not {scale}")
        result = run_scale(scale, keep=args.keep, work_root=args.work, postgres=args.postgres)
        path = save(result, out_dir)
        print(f"scale {scale}: dbt build {result['dbt_seconds']:.1f} s = {result['dbt_build_to_floor']}x the "
              f"bare-DuckDB floor ({result['floor']['seconds']:.1f} s; dbt's execution phase "
              f"{result['dbt_execution_to_floor']}x); with the serving file ({result['serving_file_seconds']:.1f} s) "
              f"govwh build {result['steps']['dbt build (all tests)']['seconds']:.1f} s = "
              f"{result['govwh_build_to_floor']}x; peak {result['steps']['dbt build (all tests)']['peak_mib']} MiB; "
              f"lean floor {result['lean_floor']['seconds']:.2f} s (peak "
              f"{result['steps']['lean floor: minimal SQL']['peak_mib']} MiB): dbt build = "
              f"{result['dbt_build_to_lean_floor']}x it, govwh build = {result['govwh_build_to_lean_floor']}x, "
              f"the floor = {result['floor_to_lean_floor']}x -> {path}", flush=True)
        if result["postgres"]:
            pg = result["postgres"]
            print(f"scale {scale}: on PostgreSQL ({pg['server']}) load + dbt build {pg['seconds']:.1f} s; dbt's "
                  f"execution phase {pg['dbt_execution_seconds']:.1f} s = {pg['dbt_execution_to_duckdb']}x DuckDB's "
                  f"{result['dbt_execution_seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
