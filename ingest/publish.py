"""Write-audit-publish for the serving DuckDB file, behind a gate that cannot be fooled.

dbt builds into a private file and runs every test there (pipeline.build). When, and only
when, every selected node passed, the build step writes a *receipt* beside the file
(build/receipt.json): a build id, the file's sha256 after a checkpoint, the sha256 and
invocation id of dbt's run_results.json and manifest.json, the row count of every contracted
mart and a digest of the file's content.

publish() serves a build only if its receipt checks out against the file, dbt's own results
(every node of the manifest ran and succeeded) and the marts actually in the file, and (when
the caller says which build it expects, as the Airflow task does) that it is that build.
Anything else (a failed build, a half-written one, a file from another run) is refused with
one line, and the serving file is not touched. Publishing the content already served is a
no-op: the serving file, `.previous` and the rollback history stay as they are.

The previous serving file is kept beside it; rollback() puts it back after checking its
sha256 against the publish log. Every publish and rollback is appended to publish_log.jsonl.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from .config import Settings, tune
from .errors import PublishRefused
from .landing import sha256_file

RECEIPT = "receipt.json"
SERVING_NAME = "serving.duckdb"
# The serving file is written in DuckDB's v1.4 storage format, so that DuckDB 1.4 LTS and 1.5
# clients (the CLI on PyPI, JDBC tools such as DBeaver, other language bindings) open it too.
STORAGE_VERSION = "v1.4.0"
NODE_TYPES = ("model", "seed", "test", "snapshot")
PASSED = ("success", "pass")


def previous_path(settings: Settings) -> Path:
    return settings.warehouse.with_name(settings.warehouse.name + ".previous")


def manifest_path(settings: Settings) -> Path:
    """dbt's manifest of the published build (column docs for the PostgreSQL mirror)."""
    return settings.warehouse.with_name(settings.warehouse.stem + ".manifest.json")


def log_path(settings: Settings) -> Path:
    return settings.warehouse.with_name("publish_log.jsonl")


def receipt_path(built: Path) -> Path:
    return built.parent / RECEIPT


def _sha256(path: Path) -> str | None:
    return sha256_file(path) if path.exists() else None


# ---------------------------------------------------------------- what a passing build is
def _contracted_marts(manifest: dict) -> list[str]:
    return sorted(n["name"] for n in manifest.get("nodes", {}).values()
                  if n.get("resource_type") == "model" and n.get("schema") == "marts"
                  and ((n.get("config") or {}).get("contract") or {}).get("enforced"))


def _selected_nodes(manifest: dict) -> set[str]:
    ids = {uid for uid, n in manifest.get("nodes", {}).items() if n.get("resource_type") in NODE_TYPES}
    ids |= set(manifest.get("unit_tests", {}))
    return ids


def quote_ident(name: str) -> str:
    """An SQL identifier, quoted (names come from a file's own catalogue, never pasted raw)."""
    return '"' + str(name).replace('"', '""') + '"'


def content_digest(con) -> dict[str, str]:
    """Per base table: column names and types, row count and an order-independent row hash."""
    out = {}
    tables = con.execute("select table_schema, table_name from information_schema.tables "
                         "where table_type = 'BASE TABLE' order by 1, 2").fetchall()
    for schema, name in tables:
        qualified = f"{quote_ident(schema)}.{quote_ident(name)}"
        columns = con.execute("select string_agg(column_name || ':' || data_type, ',' order by ordinal_position) "
                              "from information_schema.columns where table_schema = ? and table_name = ?",
                              [schema, name]).fetchone()[0]
        count, digest = con.execute(f"select count(*), coalesce(sum(hash(t)), 0)::varchar from {qualified} t").fetchone()
        out[f"{schema}.{name}"] = hashlib.sha256(f"{columns}|{count}|{digest}".encode()).hexdigest()[:24]
    return out


def digest_of(tables: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()


def _literal(text: str) -> str:
    """An SQL string literal, quoted by DuckDB's own expression API (COMMENT ON takes no parameter)."""
    return str(duckdb.ConstantExpression(text))


def marts_docs(manifest: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """dbt's description of every mart and its columns: {model: (description, {column: description})}."""
    out = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model" and node.get("schema") == "marts":
            out[node["name"]] = (node.get("description") or "",
                                 {c: (m.get("description") or "") for c, m in (node.get("columns") or {}).items()})
    return out


def write_serving_file(built: Path, manifest: dict) -> Path:
    """The file people open: the marts only (tables, no view pointing at a path on this machine),
    each table and column commented from the dbt docs, in a storage format 1.x clients read."""
    serving = built.parent / SERVING_NAME
    for stale in (serving, Path(str(serving) + ".wal")):
        stale.unlink(missing_ok=True)
    docs = marts_docs(manifest)
    con = tune(duckdb.connect())
    try:
        con.execute("attach ? as build (read_only)", [str(built)])
        con.execute("attach ? as serve (storage_version ?)", [str(serving), STORAGE_VERSION])
        con.execute("create schema serve.marts")
        names = [r[0] for r in con.execute("select table_name from duckdb_tables() where database_name = 'build' "
                                           "and schema_name = 'marts' order by 1").fetchall()]
        for name in names:
            target = f"serve.marts.{quote_ident(name)}"
            con.execute(f"create table {target} as select * from build.marts.{quote_ident(name)}")
            description, columns = docs.get(name, ("", {}))
            if description:
                con.execute(f"comment on table {target} is {_literal(description)}")
            for column, text in columns.items():
                if text:
                    con.execute(f"comment on column {target}.{quote_ident(column)} is {_literal(text)}")
        con.execute("checkpoint serve")
        con.execute("detach serve")
    finally:
        con.close()
    return serving


def write_receipt(built: Path, dbt_seconds: float | None = None) -> dict:
    """Called by the build step after dbt passed: write the serving file, then record what passed
    (and how long dbt and the serving file took: the scale harness reads them)."""
    started = time.perf_counter()
    target_dir = built.parent / "target"
    results_file, manifest_file = target_dir / "run_results.json", target_dir / "manifest.json"
    results = json.loads(results_file.read_text(encoding="utf-8"))
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    serving = write_serving_file(built, manifest)
    con = tune(duckdb.connect(str(serving), read_only=True))
    try:
        marts = {name: con.execute(f"select count(*) from marts.{quote_ident(name)}").fetchone()[0]
                 for name in _contracted_marts(manifest)}
        tables = content_digest(con)
    finally:
        con.close()
    receipt = {
        "build_id": uuid.uuid4().hex,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "file": serving.name,  # beside the receipt: the build folder may be moved or copied whole
        "dbt_file": built.name,
        "sha256": sha256_file(serving),
        "dbt_invocation_id": results.get("metadata", {}).get("invocation_id"),
        "run_results_sha256": sha256_file(results_file),
        "manifest_sha256": sha256_file(manifest_file),
        "nodes": len(results.get("results", [])),
        "marts": marts,
        "content_digest": digest_of(tables),
        "seconds": {"dbt": round(dbt_seconds, 2) if dbt_seconds is not None else None,
                    "serving_file": round(time.perf_counter() - started, 2)},
    }
    tmp = receipt_path(built).with_suffix(".tmp")
    tmp.write_text(json.dumps(receipt, indent=1), encoding="utf-8")
    os.replace(tmp, receipt_path(built))
    return receipt


def read_receipt(built: Path) -> dict:
    return json.loads(receipt_path(built).read_text(encoding="utf-8"))


def verify_build(built: Path, expected_build_id: str | None = None) -> dict:
    """The gate: returns the receipt when the build may be served, else raises PublishRefused."""
    def refuse(cause: str):
        raise PublishRefused(f"not publishing {built}: {cause}; the serving warehouse was not touched")

    receipt_file = receipt_path(built)
    if not built.exists():
        refuse("the file does not exist (did the build step run?)")
    if not receipt_file.exists():
        refuse("it has no build receipt, so its dbt build failed, was interrupted or never finished "
               "(run `govwh build`)")
    try:
        receipt = json.loads(receipt_file.read_text(encoding="utf-8"))
        int(receipt["nodes"]), dict(receipt["marts"]), str(receipt["sha256"])
    except (ValueError, KeyError, TypeError):
        refuse(f"its receipt {receipt_file} is unreadable")
    if expected_build_id is not None and receipt["build_id"] != expected_build_id:
        refuse(f"it is build {receipt['build_id'][:12]} from another run, not build {expected_build_id[:12]} "
               "that this run's build step produced")
    serving = built.parent / SERVING_NAME
    if receipt.get("file") != SERVING_NAME:
        refuse(f"its receipt names {receipt.get('file')!r}, not the serving file {SERVING_NAME}")
    if not serving.exists():
        refuse(f"its serving file {serving} is missing")
    if Path(str(serving) + ".wal").exists():
        refuse("its serving file has a write-ahead log: something wrote to it after its build passed")
    actual = sha256_file(serving)
    if actual != receipt["sha256"]:
        refuse(f"the file changed after its build passed (sha256 {actual[:12]}, receipt {receipt['sha256'][:12]}): "
               "a partial or foreign file")
    target_dir = built.parent / "target"
    results_file, manifest_file = target_dir / "run_results.json", target_dir / "manifest.json"
    if _sha256(results_file) != receipt["run_results_sha256"] or _sha256(manifest_file) != receipt["manifest_sha256"]:
        refuse("dbt's run_results.json or manifest.json are not the ones of this build (another build ran since)")
    results = json.loads(results_file.read_text(encoding="utf-8"))
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    if results.get("metadata", {}).get("invocation_id") != receipt["dbt_invocation_id"]:
        refuse("dbt's results belong to another invocation")
    statuses = {r["unique_id"]: r["status"] for r in results.get("results", [])}
    failed = sorted(uid for uid, status in statuses.items()  # exposures report "no-op": nothing to run
                    if status not in PASSED and not (uid.startswith("exposure.") and status == "no-op"))
    if failed:
        refuse(f"{len(failed)} dbt nodes did not pass, e.g. {failed[0]} ({statuses[failed[0]]})")
    missing = sorted(_selected_nodes(manifest) - set(statuses))
    if missing:
        refuse(f"{len(missing)} dbt nodes never ran, e.g. {missing[0]}")
    expected_marts = _contracted_marts(manifest)
    con = tune(duckdb.connect(str(serving), read_only=True))
    try:
        present = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                             "where table_schema = 'marts'").fetchall()}
        absent = [m for m in expected_marts if m not in present]
        if absent:
            refuse(f"{len(absent)} of {len(expected_marts)} contracted marts are missing, e.g. marts.{absent[0]}")
        for name in expected_marts:
            rows = con.execute(f"select count(*) from marts.{quote_ident(name)}").fetchone()[0]
            if rows != receipt["marts"].get(name):
                refuse(f"marts.{name} has {rows} rows, its build passed with {receipt['marts'].get(name)}")
    finally:
        con.close()
    return receipt


# ---------------------------------------------------------------- publish and rollback
def _replace_atomically(source: Path, target: Path) -> None:
    staged = target.with_name(target.name + ".incoming")
    try:
        shutil.copyfile(source, staged)
        with open(staged, "rb") as f:
            os.fsync(f.fileno())
        os.replace(staged, target)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _log(settings: Settings, action: str, started: float, **extra) -> dict:
    record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action,
              "warehouse": str(settings.warehouse), "sha256": sha256_file(settings.warehouse),
              "seconds": round(time.perf_counter() - started, 3), **extra}
    with open(log_path(settings), "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return record


def publish(settings: Settings, built: Path | None = None, expected_build_id: str | None = None,
            fingerprint: str | None = None) -> dict:
    """Serve a build that passed the gate; returns the publish record (action 'unchanged' if a no-op)."""
    started = time.perf_counter()
    built = built or settings.build_dir / "governance.duckdb"
    receipt = verify_build(built, expected_build_id)
    serving = settings.warehouse
    last = last_publish(settings)
    if (last and serving.exists() and last.get("content_digest") == receipt["content_digest"]
            and last.get("sha256") == sha256_file(serving)):
        return {**last, "action": "unchanged", "seconds": round(time.perf_counter() - started, 3),
                "build_id": receipt["build_id"], "published_at": last["at"]}
    serving.parent.mkdir(parents=True, exist_ok=True)
    from .changes import Comparison, Unavailable

    try:  # what this publish changes, fact by fact, against the file it replaces (see ingest/changes.py)
        comparison = Comparison(serving if serving.exists() else None, built.parent / SERVING_NAME)
    except duckdb.Error as exc:  # e.g. a served file from before a mart existed: publish anyway, say so
        comparison = Unavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    previous_sha = None
    if serving.exists():  # keep the current file as .previous (a hard link: no copy, no gap)
        previous = previous_path(settings)
        tmp = previous.with_name(previous.name + ".tmp")
        tmp.unlink(missing_ok=True)
        os.link(serving, tmp)
        os.replace(tmp, previous)
        previous_sha = sha256_file(previous)
    try:
        _replace_atomically(built.parent / SERVING_NAME, serving)
    except BaseException:
        comparison.close()
        raise
    shutil.copyfile(built.parent / "target" / "manifest.json", manifest_path(settings))
    record = _log(settings, "publish", started, marts=len(receipt["marts"]), built=str(built),
                  build_id=receipt["build_id"], dbt_invocation_id=receipt["dbt_invocation_id"],
                  nodes=receipt["nodes"], rows=receipt["marts"], content_digest=receipt["content_digest"],
                  previous_sha256=previous_sha, input_fingerprint=fingerprint, changes=comparison.counts)
    comparison.record(settings, record["at"], receipt["build_id"])
    return record


def records(settings: Settings) -> list[dict]:
    path = log_path(settings)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line (a crash mid-append) is not a publish
    return out


def rollback(settings: Settings) -> dict:
    """Put the previous serving file back, after checking it is a warehouse this log published."""
    started = time.perf_counter()
    previous = previous_path(settings)
    if not previous.exists():
        raise PublishRefused(f"no previous warehouse to roll back to ({previous} does not exist)")
    logged = records(settings)
    known = {r.get("sha256") for r in logged} | {r.get("previous_sha256") for r in logged}
    actual = sha256_file(previous)
    if actual not in known - {None}:
        raise PublishRefused(f"rollback refused: {previous} (sha256 {actual[:12]}) matches no warehouse in "
                             f"{log_path(settings)}; it was changed after it was published")
    serving = settings.warehouse
    if serving.exists():
        kept = serving.with_name(serving.name + ".rolled-back")
        kept.unlink(missing_ok=True)
        os.link(serving, kept)
    _replace_atomically(previous, serving)
    last = next((r for r in reversed(logged) if r.get("sha256") == actual), {})
    return _log(settings, "rollback", started, restored_from=str(previous),
                content_digest=last.get("content_digest"))


def last_publish(settings: Settings) -> dict | None:
    found = [r for r in records(settings) if r.get("action") in ("publish", "rollback")]
    return found[-1] if found else None
