"""The floor of a dbt build: the same compiled SQL, run in one bare DuckDB process.

    python bench/floor.py <build folder> [memory limit]   (the folder holding governance.duckdb and
                                                           target/; the dbt profile's memory_limit)

Reads target/manifest.json of the last `dbt build` there, creates a fresh DuckDB database of
the same name (so the compiled three-part names resolve) in <build>/floor/, copies the seeds
from the built file (they are small; loading CSVs is dbt's job, not SQL's), then runs every
model's compiled SQL in dependency order (as a view or a table, as dbt materialised it) and
every data test's compiled SQL (counting failing rows, as dbt does). Unit tests are dbt's own
machinery (fixtures, mocked inputs) and have no plain-SQL equivalent: they are left out.
Writes <build>/floor.json: {"seconds": wall time of the models and tests, "models", "tests",
"failing_tests"}.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import duckdb


def _order(nodes: dict) -> list[str]:
    """Models in an order where every model comes after the models it reads."""
    models = {k for k, v in nodes.items() if v["resource_type"] == "model"}
    done: list[str] = []
    seen: set[str] = set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        for dep in nodes[key]["depends_on"]["nodes"]:
            if dep in models:
                visit(dep)
        done.append(key)

    for key in sorted(models):
        visit(key)
    return done


def main(build: Path, memory_limit: str | None = None) -> dict:
    manifest = json.loads((build / "target" / "manifest.json").read_text(encoding="utf-8"))
    nodes = manifest["nodes"]
    built = build / "governance.duckdb"
    folder = build / "floor"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    con = duckdb.connect(str(folder / "governance.duckdb"))  # same catalogue name as the build
    if memory_limit:  # the profile's limit, so both spill alike
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("ATTACH ? AS built (READ_ONLY)", [str(built)])
    for node in nodes.values():
        if node["resource_type"] == "seed":
            schema, name = node["schema"], node["alias"]
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(f'CREATE TABLE "{schema}"."{name}" AS SELECT * FROM built."{schema}"."{name}"')
    con.execute("DETACH built")
    started = time.perf_counter()
    order = _order(nodes)
    for key in order:
        node = nodes[key]
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{node["schema"]}"')
        kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
        con.execute(f"CREATE {kind} {node['relation_name']} AS {node['compiled_code']}")
    models_done = time.perf_counter()
    failing = []
    tests = [n for n in nodes.values() if n["resource_type"] == "test"]
    for node in tests:
        count = con.execute(f"SELECT count(*) FROM ({node['compiled_code']}) AS t").fetchone()[0]
        if count:
            failing.append(node["unique_id"])
    finished = time.perf_counter()
    con.close()
    result = {"seconds": round(finished - started, 2), "models_seconds": round(models_done - started, 2),
              "tests_seconds": round(finished - models_done, 2), "models": len(order), "tests": len(tests),
              "failing_tests": failing}
    (build / "floor.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    return result


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]).resolve(), sys.argv[2] if len(sys.argv) > 2 else None)))
