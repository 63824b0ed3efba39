"""Benchmark: wall time and peak memory of the pipeline's steps. Prints figures; asserts nothing.

    make bench            # or: .venv/bin/python bench/bench.py [--airflow]

Each measurement runs in a fresh process (peak RSS = the largest process in its tree).
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
    parser.add_argument("--airflow", action="store_true", help="also time a full `airflow dags test` run")
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
        rows.append(("cold run (fetch+parse+dbt build+publish), bundle", *measure(run, env)))
        rows.append(("second run, nothing new upstream", *measure(run, env)))
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
        if args.airflow:
            env_run = dict(env, GOVWH_DATA_DIR=str(Path(tmp) / "airflow-run"))
            rows.append(("airflow dags test, cold (incl. db migrate)",
                         *measure([PY, "-m", "ingest", "run"], env_run)))
            rows.append(("airflow dags test, second run", *measure([PY, "-m", "ingest", "run"], env_run)))

    print(f"{'measurement':<55} {'wall s':>8} {'peak MiB':>9}")
    for name, wall, peak in rows:
        print(f"{name:<55} {wall:>8.2f} {peak:>9.0f}")
    print(f"DAG file parse time once Airflow is imported: {dag_parse * 1000:.0f} ms")


if __name__ == "__main__":
    main()
