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
import logging
import os
import re
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from .config import Settings, tune
from .errors import PublishRefused
from .faults import failpoint
from .landing import sha256_file

log = logging.getLogger("ingest")

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
    """dbt's manifest of the published build (column docs and keys for the mirror and exports)."""
    return manifest_beside(settings.warehouse)


def manifest_beside(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.stem + ".manifest.json")


def published_manifest(warehouse: Path) -> dict:
    """The manifest published with this serving file ({} when there is none)."""
    path = manifest_beside(warehouse)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


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


def _selected_nodes(manifest: dict, unit_tests: bool = True) -> set[str]:
    ids = {uid for uid, n in manifest.get("nodes", {}).items() if n.get("resource_type") in NODE_TYPES}
    if unit_tests:
        ids |= set(manifest.get("unit_tests", {}))
    return ids


# What a build may leave out and still be served: dbt's unit tests (they test the SQL on fixed
# inputs, not the data; GOVWH_DBT_UNIT_TESTS). Every model, seed and data test must run.
MAY_SKIP = {"unit_test"}


def quote_ident(name: str) -> str:
    """An SQL identifier, quoted (names come from a file's own catalogue, never pasted raw)."""
    return '"' + str(name).replace('"', '""') + '"'


def content_digest(con) -> dict[str, str]:
    """Per base table: column names, types and comments, the table's comment, its keys, row count
    and an order-independent row hash. Comments and keys are content: a new column description or
    a newly declared key must be served."""
    out = {}
    database = con.execute("select current_database()").fetchone()[0]
    tables = con.execute("select schema_name, table_name, coalesce(comment, '') from duckdb_tables() "
                         "where database_name = current_database() and not temporary order by 1, 2").fetchall()
    keys = {schema: table_keys(con, database, schema) for schema in {t[0] for t in tables}}
    for schema, name, comment in tables:
        qualified = f"{quote_ident(schema)}.{quote_ident(name)}"
        columns = con.execute("select string_agg(column_name || ':' || data_type || ':' || coalesce(comment, ''), "
                              "chr(31) order by column_index) from duckdb_columns() "
                              "where database_name = current_database() and schema_name = ? and table_name = ?",
                              [schema, name]).fetchone()[0]
        count, digest = con.execute(f"select count(*), coalesce(sum(hash(t)), 0)::varchar from {qualified} t").fetchone()
        key = keys[schema].get(name)
        text = f"{columns}|{comment}|{count}|{digest}" + (f"|{json.dumps(key)}" if key else "")
        out[f"{schema}.{name}"] = hashlib.sha256(text.encode()).hexdigest()[:24]
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


_TYPE = re.compile(r"[A-Z][A-Z0-9_]*(\(\d+(, ?\d+)?\))?(\[\])*")


def unindexed_keys(manifest: dict) -> dict[str, dict]:
    """The keys dbt declares on marts marked `meta: {keys_indexed: false}` (the fact tables, one row
    per figure), which the build file does not index (dbt_project/macros/constraints.sql says why;
    dbt's tests check them): {model: {"primary": [cols], "foreign": [(cols, table, cols)]}}."""
    out = {}
    for node in manifest.get("nodes", {}).values():
        if (node.get("resource_type") == "model" and node.get("schema") == "marts"
                and (node.get("config", {}).get("meta") or {}).get("keys_indexed") is False):
            entry = out.setdefault(node["name"], {"primary": [], "foreign": []})
            for c in node.get("constraints") or []:
                if c.get("type") == "primary_key":
                    entry["primary"] = list(c["columns"])
                elif c.get("type") == "foreign_key":  # `to` is the rendered relation: "db"."schema"."table"
                    referenced = re.findall(r'"([^"]+)"|([^".]+)', c["to"])[-1]
                    entry["foreign"].append((list(c["columns"]), referenced[0] or referenced[1],
                                             list(c["to_columns"])))
    return out


def table_keys(con, database: str, schema: str, manifest: dict | None = None) -> dict[str, dict]:
    """Each table's primary key and foreign keys as the file holds them (dbt declared them as model
    constraints and the build enforced them): {table: {"primary": [cols], "foreign": [(cols, table,
    cols)]}}. With dbt's manifest, the fact tables' keys, which the build does not index, are
    taken from their declaration (what the exports and the PostgreSQL mirror carry)."""
    keys: dict[str, dict] = {}
    rows = con.execute("select table_name, constraint_type, constraint_column_names, referenced_table, "
                       "referenced_column_names from duckdb_constraints() where database_name = ? and schema_name = ? "
                       "and constraint_type in ('PRIMARY KEY', 'FOREIGN KEY') order by table_name, constraint_index",
                       [database, schema]).fetchall()
    for table, kind, columns, referenced, referenced_columns in rows:
        entry = keys.setdefault(table, {"primary": [], "foreign": []})
        if kind == "PRIMARY KEY":
            entry["primary"] = list(columns)
        else:
            entry["foreign"].append((list(columns), referenced, list(referenced_columns)))
    if manifest:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where database_name = ? and "
                                            "schema_name = ?", [database, schema]).fetchall()}
        keys.update({t: k for t, k in unindexed_keys(manifest).items() if t in tables})
    return keys


def table_definitions(con, database: str, schema: str, manifest: dict | None = None) -> list[tuple[str, str]]:
    """(table, column and key definitions) of every table, referenced tables first: the columns
    with their types and NOT NULL, the primary key and the foreign keys; the fact tables (manifest:
    keys_indexed false) with their foreign keys only, their primary key unindexed as in the build.
    Names are quoted; types come from DuckDB's catalogue and must look like one."""
    from graphlib import TopologicalSorter

    keys = table_keys(con, database, schema, manifest)
    for table in unindexed_keys(manifest or {}):
        if table in keys:
            keys[table] = {**keys[table], "primary": []}
    names = [r[0] for r in con.execute("select table_name from duckdb_tables() where database_name = ? and "
                                       "schema_name = ? order by 1", [database, schema]).fetchall()]
    graph = {n: {ref for _c, ref, _r in keys.get(n, {}).get("foreign", []) if ref != n} for n in names}
    out = []
    for name in TopologicalSorter(graph).static_order():
        parts = []
        for column, data_type, nullable in con.execute(
                "select column_name, data_type, is_nullable from duckdb_columns() where database_name = ? and "
                "schema_name = ? and table_name = ? order by column_index", [database, schema, name]).fetchall():
            if not _TYPE.fullmatch(data_type):
                raise PublishRefused(f"not publishing: column {name}.{column} has an unexpected type {data_type!r}")
            parts.append(f"{quote_ident(column)} {data_type}{'' if nullable else ' NOT NULL'}")
        entry = keys.get(name, {"primary": [], "foreign": []})
        cols = lambda names: ", ".join(quote_ident(c) for c in names)  # noqa: E731
        if entry["primary"]:
            parts.append(f"PRIMARY KEY ({cols(entry['primary'])})")
        for columns, referenced, referenced_columns in entry["foreign"]:
            parts.append(f"FOREIGN KEY ({cols(columns)}) REFERENCES {quote_ident(referenced)} ({cols(referenced_columns)})")
        out.append((name, ", ".join(parts)))
    return out


def write_serving_file(built: Path, manifest: dict) -> Path:
    """The file people open: the marts only (tables, no view pointing at a path on this machine),
    each with the primary and foreign keys dbt declared (so BI tools can infer the joins), each
    table and column commented from the dbt docs, in a storage format 1.x clients read."""
    serving = built.parent / SERVING_NAME
    for stale in (serving, Path(str(serving) + ".wal")):
        stale.unlink(missing_ok=True)
    docs = marts_docs(manifest)
    con = tune(duckdb.connect(), spill=built.parent / "serving.spill")
    try:
        con.execute("attach ? as build (read_only)", [str(built)])
        con.execute("attach ? as serve (storage_version ?)", [str(serving), STORAGE_VERSION])
        con.execute("create schema serve.marts")
        for name, ddl in table_definitions(con, "build", "marts", manifest):
            target = f"serve.marts.{quote_ident(name)}"
            con.execute(f"create table {target} ({ddl})")
            con.execute(f"insert into {target} select * from build.marts.{quote_ident(name)}")
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


def write_receipt(built: Path, dbt_seconds: float | None = None, input_fingerprint: str | None = None) -> dict:
    """Called by the build step after dbt passed: write the serving file, then record what passed
    (and how long dbt and the serving file took: the scale harness reads them). input_fingerprint
    is what the build read, taken when it started (pipeline.build_fingerprint); a publish of this
    build records it as the last build's inputs, so a night with nothing new can be told apart."""
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
        "input_fingerprint": input_fingerprint,
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
    skipped = set((results.get("args") or {}).get("exclude_resource_types") or [])
    if skipped - MAY_SKIP:
        refuse(f"its dbt build left out every {', '.join(sorted(skipped - MAY_SKIP))} (--exclude-resource-type)")
    missing = sorted(_selected_nodes(manifest, unit_tests="unit_test" not in skipped) - set(statuses))
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
#
# The order of a publish (every step before the commit can fail, or be killed, leaving the
# serving file, `.previous` and the log as they were; after it, the next publish or rollback
# finishes the rotation and the log from the journal):
#   1. copy the build's serving file to governance.duckdb.incoming, fsync, check its sha256
#   2. hard-link the serving file to governance.duckdb.previous.tmp (the current file, no copy)
#   3. write the journal governance.duckdb.pending.json (the log record to append), fsync
#   4. COMMIT: rename .incoming over governance.duckdb, fsync the folder
#   5. rename .previous.tmp over .previous (the file before the new one)
#   6. the manifest, the change log (a failure here is a warning: the publish happened)
#   7. append the record to publish_log.jsonl, fsync; remove the journal
# A rollback puts `.previous` back through the same journal (steps 1, 3, 4, 7).
def incoming_path(settings: Settings) -> Path:
    return settings.warehouse.with_name(settings.warehouse.name + ".incoming")


def pending_path(settings: Settings) -> Path:
    return settings.warehouse.with_name(settings.warehouse.name + ".pending.json")


def _previous_tmp(settings: Settings) -> Path:
    previous = previous_path(settings)
    return previous.with_name(previous.name + ".tmp")


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _stage(source: Path, staged: Path, expected_sha256: str | None = None) -> None:
    """Step 1: a full, fsynced copy beside the target; removed again if anything fails."""
    from .errors import from_os_error

    try:
        staged.unlink(missing_ok=True)
        failpoint("publish.copy", staged)
        shutil.copyfile(source, staged)
        with open(staged, "rb") as f:
            os.fsync(f.fileno())
        if expected_sha256 is not None and sha256_file(staged) != expected_sha256:
            raise PublishRefused(f"the copy {staged} does not match the build's sha256 (a failing disk?); "
                                 "the serving warehouse was not touched")
    except BaseException as exc:
        staged.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise from_os_error(exc, "staging the new warehouse", staged) from exc
        raise
    failpoint("publish.staged")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _append_log(settings: Settings, record: dict) -> None:
    path = log_path(settings)
    with open(path, "ab") as f:
        if f.tell() and not _ends_with_newline(path):  # a torn last line (a crash mid-append) stays its own line
            f.write(b"\n")
        f.write((json.dumps(record) + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _commit(settings: Settings, record: dict, rotate: bool, started: float) -> None:
    """Steps 3-5: journal, rename into place, rotate `.previous`. The record is appended later."""
    serving = settings.warehouse
    record["seconds"] = round(time.perf_counter() - started, 3)
    _write_json(pending_path(settings), {"record": record, "rotate": rotate})
    failpoint("publish.journal")
    os.replace(incoming_path(settings), serving)
    _fsync_dir(serving.parent)
    failpoint("publish.committed")
    if rotate:
        os.replace(_previous_tmp(settings), previous_path(settings))
        _fsync_dir(serving.parent)
    failpoint("publish.rotated")


def _finish(settings: Settings, record: dict, started: float) -> None:
    """Step 7: the log says what is served; the journal goes."""
    record["seconds"] = round(time.perf_counter() - started, 3)
    _append_log(settings, record)
    failpoint("publish.logged")
    pending_path(settings).unlink(missing_ok=True)


def recover(settings: Settings) -> str | None:
    """Finish or undo a publish or rollback that was interrupted (killed, a full disk): called
    first by publish and rollback, under the run lock. Returns what it did, or None."""
    pending, staged, prev_tmp = pending_path(settings), incoming_path(settings), _previous_tmp(settings)
    journal = None
    if pending.exists():
        try:
            journal = json.loads(pending.read_text(encoding="utf-8"))
            record = journal["record"]
            str(record["sha256"]), str(record["at"]), str(record["action"])
        except (OSError, ValueError, KeyError, TypeError):
            journal = None  # written by rename, so never torn: not ours, or damaged by hand
            log.warning("ignoring unreadable publish journal %s", pending)
    pending.with_name(pending.name + ".tmp").unlink(missing_ok=True)
    serving = settings.warehouse
    if journal is not None and serving.exists() and sha256_file(serving) == journal["record"]["sha256"]:
        record = journal["record"]  # committed: finish the rotation and the log
        if journal.get("rotate") and prev_tmp.exists():
            os.replace(prev_tmp, previous_path(settings))
            _fsync_dir(serving.parent)
        staged.unlink(missing_ok=True)
        logged = any(r.get("at") == record["at"] and r.get("sha256") == record["sha256"]
                     and r.get("action") == record["action"] for r in records(settings, warn=False))
        if not logged:
            _append_log(settings, {**record, "recovered": True})
        pending.unlink(missing_ok=True)
        return f"completed the {record['action']} of {record['at']} that was interrupted after it was served"
    removed = [p.name for p in (staged, prev_tmp, pending) if p.exists()]
    for p in (staged, prev_tmp, pending):
        p.unlink(missing_ok=True)
    if removed:
        return f"removed what an interrupted publish left ({', '.join(removed)}); the serving warehouse was not replaced"
    return None


def _say_recovered(settings: Settings) -> None:
    done = recover(settings)
    if done:
        print(f"[publish] {done}", flush=True)


def publish(settings: Settings, built: Path | None = None, expected_build_id: str | None = None) -> dict:
    """Serve a build that passed the gate; returns the publish record (action 'unchanged' if a no-op).
    The build's input fingerprint (from its receipt) goes into the record."""
    started = time.perf_counter()
    built = built or settings.build_dir / "governance.duckdb"
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    _say_recovered(settings)
    receipt = verify_build(built, expected_build_id)
    serving = settings.warehouse
    last = last_publish(settings)
    if (last and serving.exists() and last.get("content_digest") == receipt["content_digest"]
            and last.get("sha256") == sha256_file(serving)):
        return {**last, "action": "unchanged", "seconds": round(time.perf_counter() - started, 3),
                "build_id": receipt["build_id"], "published_at": last["at"],
                "input_fingerprint": receipt.get("input_fingerprint")}
    from .changes import Comparison, Unavailable

    try:  # what this publish changes, fact by fact, against the file it replaces (see ingest/changes.py)
        comparison = Comparison(serving if serving.exists() else None, built.parent / SERVING_NAME)
    except duckdb.Error as exc:  # e.g. a served file from before a mart existed: publish anyway, say so
        comparison = Unavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    try:
        _stage(built.parent / SERVING_NAME, incoming_path(settings), receipt["sha256"])
        previous_sha = None
        if serving.exists():  # the current file, kept as .previous once the new one is in (a hard link: no copy)
            prev_tmp = _previous_tmp(settings)
            prev_tmp.unlink(missing_ok=True)
            os.link(serving, prev_tmp)
            previous_sha = sha256_file(prev_tmp)
            failpoint("publish.linked")
        record = {"at": _now(), "action": "publish", "warehouse": str(serving), "sha256": receipt["sha256"],
                  "marts": len(receipt["marts"]), "built": str(built), "build_id": receipt["build_id"],
                  "dbt_invocation_id": receipt["dbt_invocation_id"], "nodes": receipt["nodes"],
                  "rows": receipt["marts"], "content_digest": receipt["content_digest"],
                  "previous_sha256": previous_sha, "input_fingerprint": receipt.get("input_fingerprint"),
                  "changes": comparison.counts}
        _commit(settings, record, rotate=previous_sha is not None, started=started)
    except BaseException as exc:
        comparison.close()
        if not pending_path(settings).exists() or _sha256(serving) != receipt["sha256"]:
            for leftover in (incoming_path(settings), _previous_tmp(settings), pending_path(settings)):
                leftover.unlink(missing_ok=True)  # not committed: as it was
        if isinstance(exc, OSError):
            from .errors import from_os_error

            raise from_os_error(exc, "publishing the warehouse", serving) from exc
        raise
    # Served. What follows cannot undo that: a failure is a warning, and the record says so.
    try:
        _write_bytes_atomically(built.parent / "target" / "manifest.json", manifest_path(settings))
    except OSError as exc:
        _warn(f"the dbt manifest beside the warehouse was not updated ({exc.strerror}); "
              "the PostgreSQL mirror's column comments and the exports' fact-table keys may be those of the last publish")
    record["change_log"] = comparison.record(settings, record["at"], receipt["build_id"])
    failpoint("publish.changes")
    try:
        _finish(settings, record, started)
    except OSError as exc:
        _warn(f"the new warehouse is served, but {log_path(settings)} could not be written ({exc.strerror}); "
              f"the next publish or rollback writes the record from {pending_path(settings).name}")
    return {**record, "seconds": round(time.perf_counter() - started, 3)}


def _write_bytes_atomically(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _warn(text: str) -> None:
    import sys

    log.warning(text)
    print(f"warning: {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the publish log
REQUIRED = {"at": str, "action": str}


def records(settings: Settings, warn: bool = True) -> list[dict]:
    """The publish log's records, in order. A line that is not a JSON object with `at` and
    `action` (a torn write, bytes that are not UTF-8, a hand edit) is skipped, named by file and
    line (once per process, on stderr and in the log)."""
    path = log_path(settings)
    if not path.exists():
        return []
    out = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        cause = None
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            cause = "is not UTF-8"
        except ValueError:
            cause = "is not JSON (a torn write?)"
        else:
            if not isinstance(value, dict):
                cause = f"is a JSON {type(value).__name__}, not a record"
            elif any(not isinstance(value.get(k), t) for k, t in REQUIRED.items()):
                cause = "has no `at` or `action`"
        if cause is None:
            value["_line"] = number
            out.append(value)
        elif warn:
            _warn_once(path, number, cause)
    return out


def bad_lines(settings: Settings) -> list[int]:
    path = log_path(settings)
    good = {r["_line"] for r in records(settings, warn=False)}
    if not path.exists():
        return []
    return [n for n, raw in enumerate(path.read_bytes().split(b"\n"), start=1) if raw.strip() and n not in good]


_warned: set[tuple[str, int]] = set()


def _warn_once(path: Path, number: int, cause: str) -> None:
    if (str(path), number) not in _warned:
        _warned.add((str(path), number))
        _warn(f"{path}, line {number} {cause}; skipped")


def rollback(settings: Settings) -> dict:
    """Put the previous serving file back, after checking it is a warehouse this log published
    and is not the file already served."""
    started = time.perf_counter()
    _say_recovered(settings)
    previous = previous_path(settings)
    if not previous.exists():
        raise PublishRefused(f"no previous warehouse to roll back to ({previous} does not exist)")
    serving = settings.warehouse
    actual = sha256_file(previous)
    if serving.exists() and sha256_file(serving) == actual:
        raise PublishRefused(f"rollback refused: {previous} is the warehouse already served (sha256 {actual[:12]}); "
                             "there is no older warehouse to go back to")
    logged = records(settings)
    known = {r.get("sha256") for r in logged} | {r.get("previous_sha256") for r in logged}
    if actual not in known - {None}:
        bad = bad_lines(settings)
        which = f"line {bad[0]} is" if len(bad) == 1 else f"lines {', '.join(map(str, bad))} are"
        hint = (f" ({which} unreadable: if its record is there, mend that line)" if bad
                else "; it was changed after it was published")
        raise PublishRefused(f"rollback refused: {previous} (sha256 {actual[:12]}) matches no warehouse in "
                             f"{log_path(settings)}{hint}")
    if serving.exists():
        kept = serving.with_name(serving.name + ".rolled-back")
        kept.unlink(missing_ok=True)
        os.link(serving, kept)
    _stage(previous, incoming_path(settings), actual)
    last = next((r for r in reversed(logged) if r.get("sha256") == actual), {})
    record = {"at": _now(), "action": "rollback", "warehouse": str(serving), "sha256": actual,
              "restored_from": str(previous), "content_digest": last.get("content_digest")}
    try:
        _commit(settings, record, rotate=False, started=started)
    except BaseException:
        if _sha256(serving) != actual:
            incoming_path(settings).unlink(missing_ok=True)
            pending_path(settings).unlink(missing_ok=True)
        raise
    _finish(settings, record, started)
    return {**record, "seconds": round(time.perf_counter() - started, 3)}


def last_publish(settings: Settings) -> dict | None:
    found = [r for r in records(settings) if r.get("action") in ("publish", "rollback")]
    return found[-1] if found else None
