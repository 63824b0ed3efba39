"""Benchmark: wall time and peak memory of the pipeline's steps. Prints figures; asserts nothing.

    make bench            # or: .venv/bin/python bench/bench.py [--no-airflow] [--tests] [--scale N ...]

Side by side in one run: a cold and a warm `make run` (Airflow), `run --direct` cold and with
nothing new (and whether the serving file's sha256 changed), each step alone, and the scale
harness (bench/scale.py) at N = 1, 10 and 100: dbt build against its bare-DuckDB floor, peak
memory, parse and publish, and at N = 1 and 10 the same build on a throwaway PostgreSQL (where
its server binaries exist). Each measurement runs in a fresh process (peak RSS = the largest
process in its tree). `make bench SCALE=N` runs the scale harness alone.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def measure(cmd: list[str], env: dict) -> tuple[float, float]:
    """Run cmd in a helper process; return (wall seconds, peak RSS in MiB of its process tree)."""
    helper = subprocess.run([PY, __file__, "--measure-json", json.dumps(cmd)], env=env,
                            capture_output=True, text=True)
    if helper.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{helper.stdout[-2000:]}\n{helper.stderr[-2000:]}")
    result = json.loads(helper.stdout.strip().splitlines()[-1])
    return result["wall"], result["peak_mib"]


def _measure_child(cmd: list[str]) -> None:
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(proc.returncode)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"wall": wall, "peak_mib": peak_kib / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-airflow", action="store_true", help="skip the cold and warm `make run` (Airflow)")
    parser.add_argument("--scale", type=int, action="append", help="scale harness at N (default: 1, 10 and 100)")
    parser.add_argument("--tests", action="store_true",
                        help="also time `make check` and `make test` (each in a fresh process; about 15 minutes)")
    parser.add_argument("--measure-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_json:
        _measure_child(json.loads(args.measure_json))
        return

    rows = []
    with tempfile.TemporaryDirectory(prefix="govwh-bench-") as tmp:
        env = dict(os.environ, GOVWH_DATA_DIR=str(Path(tmp) / "data"), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        env.pop("GOVWH_WAREHOUSE", None)
        run = [PY, "-m", "ingest", "run", "--direct"]
        from ingest.landing import sha256_file

        rows.append(("run --direct, cold (fetch+parse+build+publish+report)", *measure(run, env)))
        served = sha256_file(Path(tmp) / "data" / "governance.duckdb")
        rows.append(("run --direct, nothing new upstream", *measure(run, env)))
        same = sha256_file(Path(tmp) / "data" / "governance.duckdb") == served
        rows.append(("dbt build alone (into the private build file)", *measure([PY, "-m", "ingest", "build"], env)))
        from ingest import catalogue

        files, pages = len(catalogue.CATALOGUE), len(catalogue.curated())
        rows.append((f"parse step alone ({files} bundled files + {pages} curated)",
                     *measure([PY, "-m", "ingest", "parse"], env)))
        rows.append(("publish alone (audit + atomic replace)", *measure([PY, "-m", "ingest", "publish"], env)))
        rows.append(("report: the static site, all pages", *measure([PY, "-m", "ingest", "report"], env)))
        rows.append(("exports: Parquet + CSV + XLSX of every mart", *measure([PY, "-m", "ingest", "export"], env)))
        originals = Path(os.environ.get("GOVWH_ORIGINALS", REPO.parent / "shared" / "sources" / "originals"))
        if originals.is_dir():
            code = ("from ingest import catalogue; from ingest.bundle import parse_original; from pathlib import Path;"
                    f"[parse_original(p, Path({str(originals)!r})) for p in catalogue.CATALOGUE]")
            rows.append((f"parse the {files} original workbooks (openpyxl/xlrd)", *measure([PY, "-c", code], env)))
        dag = REPO / "dags" / "governance_nightly.py"
        env_af = dict(env, AIRFLOW_HOME=str(Path(tmp) / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
        rows.append(("import airflow.sdk (fixed cost of any DAG parse)",
                     *measure([PY, "-c", "import airflow.sdk"], env_af)))
        probe = ("import time, runpy, airflow.sdk; t = time.perf_counter(); "
                 f"runpy.run_path({str(dag)!r}); print(time.perf_counter() - t)")
        dag_parse = float(subprocess.run([PY, "-c", probe], env=env_af, capture_output=True, text=True,
                                         check=True).stdout.strip().splitlines()[-1])
        if not args.no_airflow:  # what `make run` runs, environment installed
            env_run = dict(env, GOVWH_DATA_DIR=str(Path(tmp) / "airflow-run"))
            rows.append(("make run, cold (Airflow set-up, both DAGs)", *measure([PY, "-m", "ingest", "run"], env_run)))
            rows.append(("make run, warm (nothing new upstream)", *measure([PY, "-m", "ingest", "run"], env_run)))

    if args.tests:  # the test commands as the README gives them, on this machine as it is now
        test_env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_") or k == "GOVWH_ORIGINALS"}
        for target in ("check", "test"):
            rows.append((f"make {target}", *measure(["make", "-C", str(REPO), target], test_env)))

    print(f"{'measurement':<58} {'wall s':>8} {'peak MiB':>9}")
    for name, wall, peak in rows:
        print(f"{name:<58} {wall:>8.2f} {peak:>9.0f}")
    print(f"serving file's sha256 after the nothing-new run: {'unchanged' if same else 'CHANGED'}")
    print("dbt = the dbt build process (start-up, parse, every model and test); exec ratio = dbt's execution phase "
          "(run_results.json) to the floor; floor = the same compiled SQL in one bare DuckDB process; lean = the "
          "marts' core work as minimal hand-written SQL (bench/lean_floor.sql), lean ratio = dbt to it; govwh build "
          "= dbt + the serving file and its receipt")
    print(f"DAG file parse time once Airflow is imported: {dag_parse * 1000:.0f} ms")
    out = REPO / "bench" / "results" / f"{time.strftime('%Y-%m-%d')}-steps.json"
    out.write_text(json.dumps({"rows": [{"measurement": n, "wall_s": round(w, 2), "peak_mib": round(m)}
                                        for n, w, m in rows], "serving_unchanged_after_nothing_new": same,
                               "dag_parse_ms": round(dag_parse * 1000)}, indent=1) + "\n", encoding="utf-8")
    print(f"written to {out}")
    _scales(args.scale or [1, 10, 100])


def _scales(scales: list[int]) -> None:
    """The scale harness at each N, one line each (bench/results/<date>-scale<N>.json has it all)."""
    sys.path.insert(0, str(REPO / "bench"))
    import scale as harness

    results = []
    for n in scales:
        result = harness.run_scale(n)
        harness.save(result, REPO / "bench" / "results")
        results.append(result)
    print(f"\n{'scale':>5} {'facts':>11} {'dbt s':>7} {'floor s':>8} {'ratio':>6} {'exec ratio':>10} "
          f"{'lean s':>6} {'lean ratio':>10} "
          f"{'serving s':>9} {'govwh build':>11} {'peak MiB':>8} {'fetch s':>7} {'parse s':>7} {'parse MiB':>9} "
          f"{'publish s':>9} {'report s':>8}")
    for r in results:
        s = r["steps"]
        build = s["dbt build (all tests)"]
        print(f"{r['scale']:>5} {r['facts']['total']:>11,} {r['dbt_seconds']:>7.1f} {r['floor']['seconds']:>8.1f} "
              f"{r['dbt_build_to_floor']:>6.2f} {r['dbt_execution_to_floor']:>10.2f} "
              f"{r['lean_floor']['seconds']:>6.1f} {r['dbt_build_to_lean_floor']:>10.2f} "
              f"{r['serving_file_seconds']:>9.1f} "
              f"{build['seconds']:>9.1f} s {build['peak_mib']:>8} {s['fetch and land']['seconds']:>7.1f} "
              f"{s['parse']['seconds']:>7.1f} {s['parse']['peak_mib']:>9} {s['publish']['seconds']:>9.2f} "
              f"{s['report']['seconds']:>8.1f}")
    for r in results:
        if r.get("postgres"):
            pg = r["postgres"]
            print(f"scale {r['scale']}: dbt build on PostgreSQL {pg['dbt_execution_seconds']:.1f} s (execution phase) = "
                  f"{pg['dbt_execution_to_duckdb']}x DuckDB's {r['dbt_execution_seconds']:.1f} s; load and build "
                  f"{pg['seconds']:.1f} s ({pg['server']})")


if __name__ == "__main__":
    main()
