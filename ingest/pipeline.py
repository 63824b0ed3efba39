"""The pipeline's steps, each a plain function the Airflow DAG (or the CLI) calls in order:

    fetch -> parse -> build (dbt, into a private file) -> publish (atomic replace) -> summary

A step that fails raises PipelineError with a message naming the file, sheet/row and cause;
the serving warehouse is only replaced after every dbt model and test passed.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from . import catalogue
from .config import DBT_PROJECT_DIR, REPO_ROOT, Settings, tune
from .errors import BuildFailed, PipelineError, StorageError
from .fetch import Landed, fetch, make_session
from .fsutil import replace_dir
from .landing import RawStore
from .lock import run_lock
from .parsers import ParseContext, parse
from .tidy import write_parquet

log = logging.getLogger("ingest")


def _say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- fetch
def fetch_all(settings: Settings, ids: list[str] | None = None, force: bool = False) -> list[Landed]:
    with run_lock(settings, "fetch"):
        return _fetch_all(settings, ids, force)


def _fetch_all(settings: Settings, ids: list[str] | None, force: bool) -> list[Landed]:
    store = RawStore(settings.raw_dir)
    pubs = catalogue.select(ids, settings)
    leftovers = store.remove_leftovers()
    if leftovers:
        _say(f"[fetch] removed {len(leftovers)} partial download(s) left by an interrupted run")
    session = make_session(settings)
    landed = []
    try:
        for i, pub in enumerate(pubs, start=1):
            result = fetch(pub, settings, store, session, force=force)
            if not pub.is_curated:
                _say(f"[fetch {i:>3}/{len(pubs)}] {pub.id:<22} {result.outcome:<12} {result.size:>9} bytes "
                     f"sha256 {result.sha256[:12]}")
            landed.append(result)
        curated = [r for r, p in zip(landed, pubs) if p.is_curated]
        if curated:
            outcomes = ", ".join(f"{n} {o}" for o, n in sorted(Counter(r.outcome for r in curated).items()))
            _say(f"[fetch {len(pubs):>3}/{len(pubs)}] {len(curated)} curated files from {settings.curated_dir}: {outcomes}")
    finally:
        session.close()
    return landed


# ---------------------------------------------------------------- anything new?
# A fingerprint of everything a build depends on, in four parts: the landed file of every
# publication (its sha256, curated files included, and the registration file of registered
# bundles), this package's code, the dbt project (models, macros, seeds, tests, config) and the
# versions of dbt and DuckDB. The check after fetch computes it from what is there now. A build
# records the fingerprint of exactly what it read: the raw files and code that parse used (parse
# writes them to parsed/_inputs.json before it reads a file) and the project and versions as the
# build starts; it goes into the build's receipt and, when that build is published, into
# last_build_inputs.json. A file landed, or a model edited, after those moments is a change.
FINGERPRINT_SKIP = {"target", "logs", "dbt_packages", "__pycache__", ".user.yml"}
PARSE_INPUTS = "_inputs.json"


def _raw_line(pub, settings: Settings, rec: dict | None) -> str:
    return f"raw {pub.id} {pub.parser_for(settings)} {rec['sha256'] if rec else '-'}"


def _raw_lines(settings: Settings) -> list[str]:

    store = RawStore(settings.raw_dir)
    lines = [_raw_line(pub, settings, store.latest(pub.source_url(settings))) for pub in catalogue.select(None, settings)]
    return lines + _declaration_lines(settings)


def _declaration_lines(settings: Settings) -> list[str]:
    """The declarations the catalogue was made of: the families' files (titles, years, units,
    layouts) and the registration of registered bundles."""
    from .landing import sha256_file

    lines = [f"declared {path.name} {sha256_file(path)}" for path in sorted(settings.catalogue_dir.glob("*.yml"))
             if path.is_file()]
    if settings.catalogue_extra is not None:  # titles, years, unit counts of registered publications
        lines.append(f"catalogue {sha256_file(settings.catalogue_extra)}")
    return lines


def _folder_lines(folder: Path) -> list[str]:
    from .landing import sha256_file

    return [f"file {folder.name}/{path.relative_to(folder)} {sha256_file(path)}" for path in sorted(folder.rglob("*"))
            if path.is_file() and not FINGERPRINT_SKIP & set(path.relative_to(folder).parts)]


def _code_lines() -> list[str]:
    return _folder_lines(REPO_ROOT / "ingest")


def _build_lines(settings: Settings, project_dir: Path | None = None) -> list[str]:
    from importlib.metadata import version

    lines = _folder_lines(project_dir or settings.dbt_project_dir)
    return lines + [f"version {package} {version(package)}" for package in ("dbt-core", "dbt-duckdb", "duckdb")]


def _digest(lines: list[str]) -> str:
    import hashlib

    return hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()


def input_fingerprint(settings: Settings, project_dir: Path | None = None) -> str:
    """The fingerprint of the inputs as they are now (what a parse and build would read)."""
    return _digest(_raw_lines(settings) + _code_lines() + _build_lines(settings, project_dir))


def build_fingerprint(settings: Settings) -> str | None:
    """The fingerprint of what this build reads: the parsed layer's record of its raw files and
    code, the project and versions now. None when the parsed layer has no record (then a publish
    of this build records nothing, and the next run rebuilds)."""
    try:
        parsed = json.loads((settings.parsed_dir / PARSE_INPUTS).read_text(encoding="utf-8"))
        lines = [str(x) for x in parsed["raw"]] + [str(x) for x in parsed["code"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _digest(lines + _build_lines(settings))


def inputs_path(settings: Settings) -> Path:
    return settings.data_dir / "last_build_inputs.json"


def nothing_new(settings: Settings) -> dict | None:
    """The last publish, if nothing a build depends on changed since and the serving file is it."""
    from .landing import sha256_file

    path = inputs_path(settings)
    if not path.exists() or not settings.warehouse.exists():
        return None
    try:
        last = json.loads(path.read_text(encoding="utf-8"))
        fingerprint, serving_sha = last["fingerprint"], last["serving_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not fingerprint or fingerprint != input_fingerprint(settings) or serving_sha != sha256_file(settings.warehouse):
        return None
    return last


def _record_inputs(settings: Settings, fingerprint: str | None, published_at: str) -> None:
    """What the published build read; without a fingerprint (a build from before they were
    recorded) there is nothing to compare with, and the next run rebuilds."""
    from .landing import sha256_file

    if fingerprint is None:
        inputs_path(settings).unlink(missing_ok=True)
        return
    record = {"fingerprint": fingerprint, "serving_sha256": sha256_file(settings.warehouse), "published_at": published_at}
    tmp = inputs_path(settings).with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, inputs_path(settings))


# ---------------------------------------------------------------- parse
@dataclass
class Parsed:
    publication_id: str
    rows: int
    path: Path
    warnings: list[str]


def _landed_file(pub, settings: Settings, store: RawStore) -> tuple[Path, dict]:
    url = pub.source_url(settings)
    rec = store.latest(url)
    if rec is None:
        raise PipelineError(f"{pub.id}: nothing landed yet from {url}; run the fetch step first")
    path = store.raw_dir / rec["raw_path"]
    store.verify(path, rec["sha256"])  # raw files are re-checked against their hash when read
    return path, rec


def parse_all(settings: Settings, ids: list[str] | None = None) -> list[Parsed]:
    with run_lock(settings, "parse"):
        return _parse_all(settings, ids)


def _parse_all(settings: Settings, ids: list[str] | None = None) -> list[Parsed]:
    """Parse the latest landed file of every publication into parsed/<indicator>/<id>.parquet.

    All publications are parsed into a fresh folder first; the parsed layer is swapped in only
    when every one of them passed its guards, so a bad file loads nothing.
    """
    store = RawStore(settings.raw_dir)
    pubs = catalogue.select(ids, settings)
    staging = settings.data_dir / "parsed.incoming"
    shutil.rmtree(staging, ignore_errors=True)
    if ids and settings.parsed_dir.exists():  # a partial re-parse keeps the other publications
        shutil.copytree(settings.parsed_dir, staging)
    try:
        results, read = [], {}
        code = _code_lines()  # before any file is read: the code that parses them
        for i, pub in enumerate(pubs, start=1):
            path, rec = _landed_file(pub, settings, store)
            read[pub.id] = _raw_line(pub, settings, rec)
            parser = pub.parser_for(settings)
            ctx = ParseContext(path=path, label=f"{pub.id} ({Path(rec['url']).name})",
                               source_sha256=rec["sha256"], source_file=pub.original_name,
                               seeds_dir=settings.seeds_dir, scratch_dir=staging)
            started = time.perf_counter()
            with store.judging(rec):  # a refused file is recorded: the next fetch downloads it afresh
                result = parse(parser, pub, ctx)
            out = staging / pub.parsed_folder / f"{pub.id}.parquet"
            if out.resolve().parent != (staging / pub.parsed_folder).resolve():  # ids are checked at intake too
                raise PipelineError(f"publication id {pub.id!r} would write outside {staging}")
            result.write(out, rec["sha256"])
            for w in result.warnings:
                _say(f"  warning: {w}")
            if not pub.is_curated:
                _say(f"[parse {i:>3}/{len(pubs)}] {pub.id:<22} {result.count:>6} rows  "
                     f"({parser}, {time.perf_counter() - started:.2f}s)")
            results.append(Parsed(pub.id, result.count, settings.parsed_dir / pub.parsed_folder / out.name,
                                  result.warnings))
        curated_rows = sum(r.rows for r, p in zip(results, pubs) if p.is_curated)
        if curated_rows:
            _say(f"[parse {len(pubs):>3}/{len(pubs)}] {sum(1 for p in pubs if p.is_curated)} curated files, "
                 f"{curated_rows:,} rows (curated)")
        write_catalogue(catalogue.publications(settings), staging / "catalogue" / "publications.parquet")
        _record_parse_inputs(settings, staging, ids, read, code)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a rejected input leaves nothing behind
        raise
    replace_dir(staging, settings.parsed_dir)
    return results


def _record_parse_inputs(settings: Settings, staging: Path, ids, read: dict[str, str], code: list[str]) -> None:
    """parsed/_inputs.json: the raw file and code behind every publication in the parsed layer.
    A partial re-parse keeps the others' lines; if the code changed since, the record says
    "mixed" (never equal to a fingerprint: the next run rebuilds)."""
    lines, record_code = dict(read), code
    if ids:
        try:
            earlier = json.loads((staging / PARSE_INPUTS).read_text(encoding="utf-8"))
            kept = {line.split(" ", 2)[1]: line for line in earlier["raw"]}
            lines = {**kept, **read}
            record_code = code if earlier["code"] == code else ["mixed"]
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            record_code = ["mixed"]
    order = [pub.id for pub in catalogue.select(None, settings)]
    raw = [lines[pid] for pid in order if pid in lines]
    if len(raw) != len(order):  # a publication missing from the parsed layer: never a match
        raw.append("incomplete")
    raw += _declaration_lines(settings)
    (staging / PARSE_INPUTS).write_text(json.dumps({"raw": raw, "code": record_code}, indent=1), encoding="utf-8")


@dataclass(frozen=True)
class CatalogueRow:
    publication_id: str
    indicator: str | None
    level: str | None
    years: str | None
    publisher: str
    title: str
    licence: str
    citation_url: str
    source_type: str
    format: str
    parser: str
    expected_units: int | None
    preference: int | None
    repo_file: str | None


def write_catalogue(pubs, path: Path) -> None:
    """The catalogue itself becomes a table (dim_publication), so every figure's source is queryable."""
    from dataclasses import fields

    def row(p) -> CatalogueRow:
        if p.is_curated:  # a page's rows carry their own indicators, levels and years
            return CatalogueRow(p.id, None, None, None, p.publisher, p.title, p.licence, p.cite, p.source_type,
                                p.format, p.parser, None, None, p.local_file.name)
        return CatalogueRow(p.id, p.indicator, p.level, ",".join(map(str, p.years)), p.publisher, p.title,
                            p.licence, p.cite, p.source_type, p.format, p.parser, p.expected_units, p.preference, None)

    rows = [row(p) for p in pubs]
    write_parquet(rows, path, "", [f.name for f in fields(CatalogueRow)], {"expected_units": "INTEGER", "preference": "INTEGER"})


# ---------------------------------------------------------------- build
def dbt_env(settings: Settings, target_db: Path) -> dict:
    """dbt's environment; dbt runs in target_db's folder (cwd), and the profile names the file
    relative to it. The same name in every data folder keeps dbt's profile the same, so a build in
    a copied folder (or a moved one) re-uses the saved parse (target/partial_parse.msgpack) instead
    of parsing the whole project again: dbt re-parses everything when a profile value changes."""
    env = dict(os.environ)
    env.update({
        "GOVWH_DBT_PATH": target_db.name,
        "GOVWH_PARSED_DIR": str(settings.parsed_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    })
    return env


def dbt_command(settings: Settings, *args: str) -> list[str]:
    exe = Path(sys.executable).parent / "dbt"
    project = str(settings.dbt_project_dir)
    return [str(exe), *args, "--project-dir", project, "--profiles-dir", project]


# dbt's saved parse (target/partial_parse.msgpack) lets a build re-parse only the files that changed
# (2.3 s against 4.5 s here). A data folder's first build has none: it starts from the one the last
# passing build of the repository's dbt project left in .cache/dbt-parse/, which dbt checks like its
# own (versions, profile, every file's checksum) and parses in full when it does not fit. Most test
# builds run in a fresh folder: 95 of 121 in one `make test` parsed in full.
PARSE_CACHE = REPO_ROOT / ".cache" / "dbt-parse"
SAVED_PARSE = "partial_parse.msgpack"


def _saved_parse_cache(settings: Settings) -> Path | None:
    """The cached saved parse of the repository's own dbt project; None for another project (a
    copy a test edits): one file, never a growing pile."""
    if Path(settings.dbt_project_dir).resolve() != DBT_PROJECT_DIR.resolve():
        return None
    return PARSE_CACHE / SAVED_PARSE


def _seed_saved_parse(settings: Settings) -> None:
    """A build without a saved parse of its own starts from the project's last one (best effort)."""
    own = settings.build_dir / "target" / SAVED_PARSE
    cached = _saved_parse_cache(settings)
    if cached is None or own.exists() or not cached.is_file() or cached.is_symlink():
        return
    try:
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, own)
    except OSError as exc:  # only a slower parse: dbt parses everything
        own.unlink(missing_ok=True)
        log.debug("the saved dbt parse %s was not copied: %s", cached, exc)


def _keep_saved_parse(settings: Settings) -> None:
    """A passing build's saved parse becomes the project's (replaced whole: builds run side by side)."""
    own = settings.build_dir / "target" / SAVED_PARSE
    cached = _saved_parse_cache(settings)
    if cached is None:
        return
    partial = cached.with_name(f".{SAVED_PARSE}.{os.getpid()}.partial")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(own, partial)
        os.replace(partial, cached)
    except OSError as exc:  # a read-only checkout, a full disk: the next fresh folder parses in full
        partial.unlink(missing_ok=True)
        log.debug("the saved dbt parse was not kept in %s: %s", cached, exc)


def build(settings: Settings) -> Path:
    """dbt build (seeds, models, tests) into a private file; returns its path.

    Only a build whose every node passed gets a receipt (publish.write_receipt), the one thing
    the publish gate accepts.
    """
    with run_lock(settings, "build"):
        return _build(settings)


def _build(settings: Settings) -> Path:
    from .publish import SERVING_NAME, receipt_path, write_receipt

    settings.build_dir.mkdir(parents=True, exist_ok=True)
    target = settings.build_dir / "governance.duckdb"
    serving = settings.build_dir / SERVING_NAME
    for stale in (receipt_path(target), target, Path(str(target) + ".wal"), serving, Path(str(serving) + ".wal")):
        stale.unlink(missing_ok=True)
    log_path = settings.build_dir / "dbt_build.log"
    results_path = settings.build_dir / "target" / "run_results.json"
    results_path.unlink(missing_ok=True)  # never read a previous build's results
    fingerprint = build_fingerprint(settings)  # before dbt reads anything
    started = time.perf_counter()
    _say(f"[build] dbt build -> {target}")
    _seed_saved_parse(settings)
    saved = settings.build_dir / "target" / SAVED_PARSE
    used_saved = saved.is_file()
    proc, results, failed = _dbt_build(settings, target, log_path, results_path)
    if used_saved and _stale_parse(failed, proc, log_path):
        # dbt's partial parse can keep a node where it was before an edit moved it (a unit test moved
        # to a new model's file "depends on a node named ... which was not found"): parse in full once
        _say("[build] dbt's saved parse does not fit the edited project (a compilation error); parsing "
             "the project in full and building again")
        saved.unlink(missing_ok=True)
        os.replace(log_path, log_path.with_name("dbt_build.stale-parse.log"))  # what the first attempt said
        for stale in (target, Path(str(target) + ".wal")):
            stale.unlink(missing_ok=True)
        proc, results, failed = _dbt_build(settings, target, log_path, results_path)
    dbt_seconds = time.perf_counter() - started
    if proc.returncode != 0 or failed or results is None:
        log_text = log_path.read_text(encoding="utf-8", errors="replace")
        if "No space left on device" in log_text or shutil.disk_usage(settings.build_dir).free < (1 << 20):
            for partial in (target, Path(str(target) + ".wal")):
                partial.unlink(missing_ok=True)  # give the space back; it could never be published
            raise StorageError(f"disk full during the dbt build: no space left writing {settings.build_dir}; "
                               "free space and run again (the serving warehouse was not touched). "
                               f"Log: {log_path}")
        memory = out_of_memory(log_text)
        if memory:
            for partial in (target, Path(str(target) + ".wal")):
                partial.unlink(missing_ok=True)  # a crashed DuckDB file is never published; give the space back
            raise BuildFailed(f"DuckDB ran out of memory during the dbt build ({memory}; the limit is "
                              f"memory_limit in {settings.dbt_project_dir / 'profiles.yml'}): the serving warehouse "
                              f"was not touched. Log: {log_path}")
        if results is None:
            raise BuildFailed(f"dbt's {results_path} is missing or unreadable, so the build cannot be trusted; "
                              f"the serving warehouse was not touched. Log: {log_path}")
        lines = "; ".join(f"{r['unique_id']}: {r['status']} ({(r.get('message') or '').strip()[:200]})"
                          for r in failed[:10]) or _log_error(log_path)
        raise BuildFailed(f"dbt build failed ({len(failed)} failing nodes): {lines}. "
                          f"The serving warehouse was not touched. Log: {log_path}")
    _keep_saved_parse(settings)
    try:
        receipt = write_receipt(target, dbt_seconds, fingerprint)
    except (OSError, duckdb.Error) as exc:
        for partial in (serving, Path(str(serving) + ".wal"), receipt_path(target)):
            partial.unlink(missing_ok=True)
        if "No space left" in str(exc) or getattr(exc, "errno", None) == errno.ENOSPC:
            raise StorageError(f"disk full writing the serving file: no space left writing {serving}; free space "
                               "and run again (the serving warehouse was not touched)") from exc
        raise
    passed = sum(1 for r in results if r["status"] in ("success", "pass"))
    _say(f"[build] {passed} models, seeds and tests passed in {dbt_seconds:.1f}s; serving file and receipt "
         f"{receipt['seconds']['serving_file']:.1f}s (build {receipt['build_id'][:12]})")
    return target


def _dbt_build(settings: Settings, target: Path, log_path: Path, results_path: Path, *args: str,
               env: dict | None = None):
    """One `dbt build` (args: more of dbt's options) in log_path's folder, its target and logs
    folders beside the log; returns the process, dbt's results (None when unreadable) and the
    failed ones. env: dbt's environment (default: dbt_env for the DuckDB file target)."""
    results_path.unlink(missing_ok=True)  # never read a previous attempt's results
    with open(log_path, "w", encoding="utf-8") as log_file:
        proc = subprocess.run(
            dbt_command(settings, "build", *args, "--target-path", str(results_path.parent),
                        "--log-path", str(log_path.parent / "logs"),
                        # unit tests check the SQL on fixed inputs: 2.3 s of a 15 s build here
                        *(() if settings.dbt_unit_tests else ("--exclude-resource-type", "unit_test"))),
            env=env or dbt_env(settings, target), stdout=log_file, stderr=subprocess.STDOUT, text=True,
            cwd=log_path.parent,
        )
    results = _dbt_results(results_path)
    failed = [r for r in results or [] if r["status"] in ("error", "fail", "runtime error")]
    return proc, results, failed


def _stale_parse(failed: list[dict], proc, log_path: Path) -> bool:
    """A failure a full parse may cure: a node that did not compile (never a failing test or a
    query's error), or an error before any node ran that dbt calls a compilation error."""
    if failed:
        return any(r["status"] == "error" and (r.get("message") or "").startswith("Compilation Error")
                   for r in failed)
    if proc.returncode == 0:
        return False
    return "Compilation Error" in log_path.read_text(encoding="utf-8", errors="replace")


_OUT_OF_MEMORY = re.compile(r"(Failed to [^\n:]{0,120})?[^\n]{0,40}((?:could not|failed to) allocate (?:block|data) "
                            r"of size [^\n(]*\([^)\n]*\)|Out of Memory Error: [^\n]{0,160})")


def out_of_memory(log_text: str) -> str | None:
    """DuckDB's out-of-memory message in a dbt log (a crash that leaves no run_results.json), as one
    short phrase naming what it was doing ("Failed to flush table fct_observations during commit:
    could not allocate block of size 256.0 KiB (953.5 MiB/953.6 MiB used)"), or None."""
    found = _OUT_OF_MEMORY.search(log_text)
    return " ".join(found.group(0).split()).strip(' "') if found else None


def _log_error(log_path: Path) -> str:
    """The first error dbt printed, for failures that happen before any node runs (a YAML error)."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    start = text.find("Encountered an error")
    return " ".join(text[start:start + 600].split()) if start >= 0 else f"see {log_path}"


def _dbt_results(path: Path) -> list[dict] | None:
    """dbt's results, or None when the file is missing or unreadable (a crash, a full disk)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("results", [])
    except (OSError, ValueError, AttributeError):
        return None


# ---------------------------------------------------------------- publish
def publish(settings: Settings, built: Path | None = None, expected_build_id: str | None = None) -> Path:
    """Write-audit-publish behind the gate: see ingest/publish.py."""
    from .publish import publish as _publish

    with run_lock(settings, "publish"):
        record = _publish(settings, built, expected_build_id)
        _record_inputs(settings, record.get("input_fingerprint"), record.get("published_at") or record["at"])
    if record["action"] == "unchanged":
        _say(f"[publish] nothing new: the build's content equals the serving warehouse published "
             f"{record['published_at']}; {settings.warehouse} and its rollback history left as they were")
    else:
        _say(f"[publish] {settings.warehouse} ({record['marts']} marts, {record['seconds']:.2f}s)")
    return settings.warehouse


def rollback(settings: Settings) -> dict:
    from .publish import rollback as _rollback

    with run_lock(settings, "rollback"):
        return _rollback(settings)


def docs(settings: Settings) -> Path:
    """`dbt docs generate --static` on a copy of the last passing build (never the build or serving
    file itself, never read-write), from any working directory; returns the docs folder, whose
    static_index.html holds the whole site in one file (it opens from file://, and can be shared)."""
    import tempfile

    from .publish import receipt_path

    built = settings.build_dir / "governance.duckdb"
    if not receipt_path(built).exists():
        raise PipelineError(f"no passing build in {settings.build_dir} to document; run `govwh build` first")
    out = settings.data_dir / "docs"
    with tempfile.TemporaryDirectory(prefix="govwh-docs-") as tmp:
        copy = Path(tmp) / "governance.duckdb"
        shutil.copyfile(built, copy)
        log_path = Path(tmp) / "dbt_docs.log"
        with open(log_path, "w", encoding="utf-8") as log_file:
            proc = subprocess.run(dbt_command(settings, "docs", "generate", "--static", "--target-path", str(out),
                                              "--log-path", tmp),
                                  env=dbt_env(settings, copy), stdout=log_file, stderr=subprocess.STDOUT, cwd=tmp)
        if proc.returncode != 0:
            raise BuildFailed(f"dbt docs generate failed: {_log_error(log_path)}")
    _say(f"[docs] {out / 'static_index.html'} (one file: open it or share it as it is; or serve the folder: "
         f"python -m http.server -d {out})")
    return out


def metrics(settings: Settings, args: list[str]) -> str:
    """MetricFlow's `mf ARGS` (e.g. `query --metrics score --group-by metric_time__year`) on a copy
    of the last passing build, with the semantic manifest that build wrote; returns mf's output.
    The semantic layer is dbt_project/models/semantic/_semantic.yml. A failure is one line."""
    import re
    import tempfile

    from .publish import receipt_path
    from .safetext import escape  # data and mf's messages reach the terminal: invisible characters escaped

    args = list(args)
    for i, arg in enumerate(args[:-1]):  # mf runs in a temporary folder: a file it writes is named from here
        if arg == "--csv":
            args[i + 1] = str(Path(args[i + 1]).resolve())
    built = settings.build_dir / "governance.duckdb"
    manifest = settings.build_dir / "target" / "semantic_manifest.json"
    if not receipt_path(built).exists() or not manifest.exists():
        raise PipelineError(f"no passing build in {settings.build_dir} to query; run `govwh build` first")
    with tempfile.TemporaryDirectory(prefix="govwh-metrics-") as tmp:
        copy = Path(tmp) / built.name  # the same file name: the models' catalogue is named after it
        shutil.copyfile(built, copy)
        project = Path(tmp) / "project"  # mf reads <cwd>/target/semantic_manifest.json
        (project / "target").mkdir(parents=True)
        for item in settings.dbt_project_dir.iterdir():
            if item.name not in ("target", "logs"):
                (project / item.name).symlink_to(item.resolve())
        shutil.copyfile(manifest, project / "target" / "semantic_manifest.json")
        env = dbt_env(settings, copy)
        env.update({"GOVWH_DBT_PATH": str(copy), "DBT_PROFILES_DIR": str(project)})
        proc = subprocess.run([str(Path(sys.executable).parent / "mf"), *args], cwd=project, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
    spinner = re.compile(r"[\u2800-\u28ff]")  # mf's progress spinner (braille characters), redrawn in place

    out = "\n".join(escape(ln) for ln in proc.stdout.splitlines() if not spinner.search(ln)).strip("\n") + "\n"
    if proc.returncode != 0 or out.lstrip().startswith("ERROR"):
        lines = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]
        start = next((i for i, ln in enumerate(lines) if "ERROR" in ln), 0)
        cause = " ".join(ln for ln in lines[start:start + 4] if not ln.startswith(("Log File", "Artifact")))
        raise PipelineError(f"metrics: mf {' '.join(args[:1])} failed: {escape(cause[:600])}")
    return out


# ---------------------------------------------------------------- serve
def export(settings: Settings, xlsx_facts: bool = False) -> dict:
    """Every mart as Parquet, CSV and XLSX (ingest/exports.py), with a progress bar; the fact
    tables go into an XLSX workbook only when xlsx_facts asks for it."""
    from rich.progress import Progress

    from .exports import export_all

    with Progress(transient=True) as progress:
        task = progress.add_task("exporting marts", total=None)

        def step(i, n, name):
            progress.update(task, total=n, completed=i - 1, description=f"exporting {name}")

        with run_lock(settings, "export"):
            result = export_all(settings, step, xlsx_facts=xlsx_facts)
    _say(f"[export] {result['marts']} marts -> {result['folder']} (Parquet, CSV, {' + '.join(result['workbooks'])}; "
         f"{result['seconds']:.1f}s)")
    return result


def report(settings: Settings) -> dict:
    """The static HTML site (ingest/report.py)."""
    from .report import build_site

    with run_lock(settings, "report"):
        result = build_site(settings)
    _say(f"[report] {result['pages']} pages -> {result['folder']}/index.html ({result['seconds']:.1f}s)")
    return result


def mirror(settings: Settings, dsn: str | None, reader_login: str | None = None) -> dict | None:
    """Publish the marts into PostgreSQL; without a DSN there is nothing to mirror to."""
    if not dsn:
        _say("[mirror] skipped: set GOVWH_PG_DSN (postgresql://user@host:port/db) to mirror the marts")
        return None
    from .mirror import mirror as _mirror

    result = _mirror(settings, dsn, reader_login)
    _say(f"[mirror] {result['tables']} tables, {result['rows']:,} rows -> PostgreSQL ({result['seconds']:.1f}s)")
    return result


# ---------------------------------------------------------------- leftovers
def leftovers(settings: Settings) -> list[tuple[Path, str]]:
    """What a killed run left behind, each with the step whose next run removes (or finishes) it:
    `govwh status` lists them."""
    from .exports import exports_dir
    from .publish import incoming_path, pending_path, previous_path
    from .report import site_dir

    previous = previous_path(settings)
    candidates = [
        (settings.data_dir / "parsed.incoming", "parse"),
        (site_dir(settings).with_name(site_dir(settings).name + ".incoming"), "report"),
        (exports_dir(settings).with_name(exports_dir(settings).name + ".incoming"), "export"),
        (incoming_path(settings), "publish"),
        (previous.with_name(previous.name + ".tmp"), "publish"),
        (pending_path(settings), "publish"),  # the journal: the next publish or rollback finishes it
        (settings.data_dir / "changes.duckdb.incoming", "publish"),
    ]
    found = [(path, step) for path, step in candidates if path.exists()]
    found += [(path, "build") for path in sorted(settings.build_dir.glob("*.wal"))] if settings.build_dir.exists() else []
    found += [(path, "fetch") for path in sorted(settings.raw_dir.glob(".incoming-*"))] if settings.raw_dir.exists() else []
    return found


# ---------------------------------------------------------------- summary
def changes_line(settings: Settings, run_started: str | None = None) -> str:
    """One line of counts: what the latest publish changed, or "no changes" when this run published nothing."""
    from .changes import counts_line
    from .publish import last_publish

    last = last_publish(settings)
    if run_started is not None and (last is None or last["at"] < run_started):
        return "What changed: no changes (this run published nothing)"
    if last is None:
        return "What changed: nothing published yet"
    return f"What changed in the publish of {last['at']}: {counts_line(last.get('changes'))} (govwh changes)"


def summary(settings: Settings, run_started: str | None = None) -> str:
    con = tune(duckdb.connect(str(settings.warehouse), read_only=True))
    try:
        coverage = con.execute(
            "select f.indicator_code, min(f.year), max(f.year), count(distinct f.year), count(*), "
            "count(distinct f.value_publication_id) "
            "from marts.fct_indicator_scores f group by 1 order by 1").fetchall()
        observations, conflicts, subindicators = con.execute(
            "select (select count(*) from marts.fct_observations), (select count(*) from marts.mart_conflicts), "
            "(select count(*) from marts.fct_subindicator_values)").fetchone()
        latest = con.execute("select max(year) from marts.mart_coverage where indicator_code = 'pci' "
                             "and component_code = 'overall' and is_complete").fetchone()[0]
        top = con.execute(
            "select rank, province_name, score, rank_change, previous_ranked_year from marts.mart_pci_provincial_ranking "
            "where year = ? and rank <= 5 order by rank, province_name", [latest]).fetchall()
    finally:
        con.close()
    lines = [f"Warehouse: {settings.warehouse}",
             f"{'indicator':<30} {'years':>9} {'facts':>8}"]
    for ind, y0, y1, _n, facts, _pubs in coverage:
        lines.append(f"  {ind:<28} {y0}-{y1} {facts:>8,}")
    lines.append(f"{observations:,} observations from all sources; {conflicts} disagreements between sources "
                 f"(marts.mart_conflicts)")
    lines.append(f"{subindicators:,} survey indicator values below the sub-indices and dimensions "
                 f"(marts.fct_subindicator_values)")
    lines.append(f"PCI {latest} (the latest complete table), top 5 provinces:")
    for rank, name, score, change, previous in top:
        if change is None:
            arrow = ""
        elif change == 0:
            arrow = f"  (same rank as {previous})"
        else:
            arrow = f"  ({'up' if change > 0 else 'down'} {abs(change)} from {previous})"
        lines.append(f"  {rank:>2}. {name:<18} {score:6.2f}{arrow}")
    lines.append(changes_line(settings, run_started))
    from .watch import read_state

    last = read_state(settings).get("last_check") or {}
    if last and (run_started is None or last.get("at", "") >= run_started):
        texts = [f.get("text", "") for f in last.get("findings", [])]
        lines += [f"Watch: {t}" for t in texts] or [f"Watch for new editions: nothing new ({last['at']})"]
    return "\n".join(lines)


def skip_if_nothing_new(settings: Settings, force: bool = False) -> bool:
    """After fetch: True (and says so) when the last publish was built from exactly these inputs."""
    last = None if force else nothing_new(settings)
    if last:
        _say(f"[check] nothing new since {last['published_at']}: no raw file, curated file, model, seed, macro, "
             "parser or package version changed; nothing parsed, built or published (--force rebuilds anyway)")
        return True
    return False


def watch_editions(settings: Settings) -> list[str]:
    """The nightly watch for new editions (ingest.watch): what it reports, each line also printed.
    Never fails the run: a page that does not answer is a warning, reported the night it changes."""
    from . import watch

    texts = [f.text for f in watch.check_quietly(settings)]
    for text in texts:
        _say(f"[watch] warning: {text}")
    return texts


def run_all(settings: Settings, force_fetch: bool = False, force: bool = False) -> str:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with run_lock(settings, "run --direct"):
        watch_editions(settings)
        fetch_all(settings, force=force_fetch)
        if skip_if_nothing_new(settings, force):
            text = summary(settings, started)
            _say(text)
            return text
        parse_all(settings)
        built = build(settings)
        publish(settings, built)
    text = summary(settings, started)
    _say(text)
    return text
