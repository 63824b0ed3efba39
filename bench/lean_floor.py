"""The lean floor: the marts' core work as minimal hand-written SQL (bench/lean_floor.sql), run in one
bare DuckDB process on the build's own inputs.

    python bench/lean_floor.py <build folder> [memory limit] [--parsed <GOVWH_PARSED_DIR>]
        (the folder holding the build's governance.duckdb; the dbt profile's memory_limit; the parsed
         Parquet folder, by default <build>/../parsed as the pipeline lays it out)

Creates a fresh DuckDB database in <build>/lean_floor/, copies the seeds from the built file (the
reference schema: small, and loading CSVs is dbt's job, not SQL's; untimed, as in bench/floor.py),
then runs each `-- @step` statement of lean_floor.sql (a CREATE TABLE) and each `-- @check` query
(counting its rows, which must be none), timing each. Afterwards, untimed, it counts the rows of its
result tables and of the corresponding marts of the build, side by side.
Writes <build>/lean_floor.json: {"seconds": wall time of the steps and checks, "steps": {name:
seconds}, "checks_seconds", "failing_checks", "rows": {table: rows}, "marts_rows", "peak_mib"}.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb

SQL = Path(__file__).resolve().parent / "lean_floor.sql"
NOT_PUBLISHERS = {"curated", "catalogue"}  # parsed folders not in the publishers' tidy schema

# lean table -> (its count, the build's count of the same thing): an untimed sanity check
COMPARED = {
    "facts": ("select count(*) from lean.facts", "select count(*) from marts.fct_indicator_scores"),
    "rankings": ("select count(*) from lean.rankings", "select count(*) from marts.fct_rankings"),
    "ranks": ("select count(rank) from lean.rankings", "select count(rank) from marts.fct_rankings"),
    "computed_ranks": ("select count(*) from lean.rankings where rank_source = 'computed'",
                       "select count(*) from marts.fct_rankings where rank_source in "
                       "('computed_from_complete_table', 'publisher_order')"),
    "percentiles": ("select count(percentile) from lean.rankings", "select count(percentile) from marts.fct_rankings"),
    "rank_changes": ("select count(rank_change) from lean.rank_changes",
                     "select count(rank_change) from marts.fct_rankings"),
    "streaks": ("select count(*) from lean.streaks", "select count(*) from marts.mart_streaks"),
    "summaries": ("select count(*) from lean.summaries", "select count(*) from marts.mart_year_summaries"),
    "summaries_with_mean": ("select count(mean_score) from lean.summaries",
                            "select count(mean_score) from marts.mart_year_summaries"),
}


def statements(text: str) -> list[tuple[str, str, str]]:
    """(kind, name, sql) for each `-- @step name` / `-- @check name` block, in file order."""
    parts = re.split(r"^-- @(step|check) (\w+)[^\n]*\n", text, flags=re.M)
    out = []
    for kind, name, body in zip(parts[1::3], parts[2::3], parts[3::3]):
        sql = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--")).strip()
        out.append((kind, name, sql.rstrip(";").strip()))
    return out


def render(text: str, parsed: Path) -> str:
    publishers = sorted(str(d / "*.parquet") for d in parsed.iterdir()
                        if d.is_dir() and d.name not in NOT_PUBLISHERS and any(d.glob("*.parquet")))
    if not publishers:
        raise SystemExit(f"no publisher Parquet under {parsed}")
    listed = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in publishers) + "]"
    return text.replace("{publisher_files}", listed).replace("{parsed}", str(parsed).replace("'", "''"))


def main(build: Path, memory_limit: str | None = None, parsed: Path | None = None) -> dict:
    parsed = parsed or build.parent / "parsed"
    built = build / "governance.duckdb"
    folder = build / "lean_floor"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    blocks = statements(render(SQL.read_text(encoding="utf-8"), parsed))
    con = duckdb.connect(str(folder / "lean_floor.duckdb"))
    try:
        if memory_limit:  # the profile's limit, so dbt, the floor and this spill alike
            con.execute("SET memory_limit = ?", [memory_limit])
        con.execute("SET enable_progress_bar = false")
        # no step needs its rows kept in insertion order; keeping it held the 100x facts step at the 2 GB
        # limit (peak 1,911 MiB alone) and failed it with "Out of Memory" in one `make bench SCALE=100`
        con.execute("SET preserve_insertion_order = false")
        con.execute("ATTACH ? AS built (READ_ONLY)", [str(built)])
        con.execute("CREATE SCHEMA reference")
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'built' "
                                   "AND schema_name = 'reference' ORDER BY 1").fetchall():
            con.execute(f'CREATE TABLE reference."{name}" AS SELECT * FROM built.reference."{name}"')
        con.execute("DETACH built")
        con.execute("CREATE SCHEMA lean")

        steps: dict[str, float] = {}
        failing: list[str] = []
        started = time.perf_counter()
        for kind, name, sql in blocks:
            t = time.perf_counter()
            print(f"  lean floor: {kind} {name}", file=sys.stderr, flush=True)  # which one, if one fails
            if kind == "step":
                con.execute(sql)
            else:
                if con.execute(f"SELECT count(*) FROM ({sql}) AS t").fetchone()[0]:
                    failing.append(name)
            steps[f"{kind} {name}"] = round(time.perf_counter() - t, 3)
        finished = time.perf_counter()

        rows = {name: con.execute(f'SELECT count(*) FROM lean."{name}"').fetchone()[0]
                for kind, name, _ in blocks if kind == "step"}
        compared = {name: con.execute(lean).fetchone()[0] for name, (lean, _) in COMPARED.items()}
        marts = {}
        con.execute("ATTACH ? AS built (READ_ONLY)", [str(built)])
        con.execute("USE built")
        for name, (_, mart) in COMPARED.items():
            marts[name] = con.execute(mart).fetchone()[0]
    finally:
        con.close()
    checks = [k for k in steps if k.startswith("check ")]
    result = {
        "seconds": round(finished - started, 2),
        "steps_seconds": round(sum(v for k, v in steps.items() if k.startswith("step ")), 2),
        "checks_seconds": round(sum(steps[k] for k in checks), 2),
        "steps": steps, "checks": len(checks), "failing_checks": failing,
        "rows": rows,
        "compared_rows": {name: {"lean": compared[name], "marts": marts[name]} for name in COMPARED},
        "memory_limit": memory_limit or None,
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    (build / "lean_floor.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build", type=Path, help="the build folder (governance.duckdb, target/)")
    parser.add_argument("memory_limit", nargs="?", default=None, help="DuckDB memory_limit (the dbt profile's)")
    parser.add_argument("--parsed", type=Path, help="GOVWH_PARSED_DIR (default <build>/../parsed)")
    args = parser.parse_args()
    print(json.dumps(main(args.build.resolve(), args.memory_limit or None,
                          args.parsed.resolve() if args.parsed else None)))
