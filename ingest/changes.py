"""The change log: what each publish changed in the served warehouse, fact by fact.

At publish time the new serving file is compared with the one it replaces (both attached
read-only to one DuckDB connection; the comparison is the SQL below, nothing row by row in
Python): figures added, changed (old and new value, both sources), removed, ranks changed, and
new disagreements between sources. The rows are appended to `$GOVWH_DATA_DIR/changes.duckdb`
(table publish_changes, kept beside the publish log, like it append-only; written on a copy that
replaces it, so a reader holding it open never blocks a publish; an unreadable one is moved aside) and the counts go into
the publish log record. The first publish has nothing to compare with: it records its counts
only. `govwh changes [--since DATE]` prints the log; the report has a "What changed" page.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from .config import Settings
from .errors import PipelineError
from .faults import failpoint

log = logging.getLogger("ingest")

KINDS = ("added", "changed", "removed", "rank_changed", "new_conflict")

# One row per change. Sources are the publications the preferred value (rank) comes from.
CHANGES_SQL = """
with o as (select * from old_wh.marts.fct_indicator_scores),
     n as (select * from new_wh.marts.fct_indicator_scores),
     facts as (
    select case when o.score_id is null then 'added' when n.score_id is null then 'removed' else 'changed' end
               as change,
           'fct_indicator_scores' as table_name, coalesce(n.score_id, o.score_id) as fact_id,
           coalesce(n.indicator_code, o.indicator_code) as indicator_code, coalesce(n.level, o.level) as level,
           coalesce(n.year, o.year) as year, coalesce(n.unit_key, o.unit_key) as unit_key,
           coalesce(n.unit_name, o.unit_name) as unit_name,
           coalesce(n.component_code, o.component_code) as component_code,
           o.value as old_value, n.value as new_value, o.published_rank as old_rank, n.published_rank as new_rank,
           o.value_publication_id as old_source, n.value_publication_id as new_source,
           o.value_source_url as old_source_url, n.value_source_url as new_source_url
    from o full outer join n on o.score_id = n.score_id
    where o.score_id is null or n.score_id is null
       or o.value is distinct from n.value or o.value_status is distinct from n.value_status
),
ranks as (
    select 'rank_changed', 'fct_rankings', n.ranking_id, n.indicator_code, n.level, n.year, n.unit_key, n.unit_name,
           n.component_code, o.score, n.score, o.rank, n.rank, o.rank_publication_id, n.rank_publication_id,
           null, null
    from old_wh.marts.fct_rankings as o
    join new_wh.marts.fct_rankings as n on n.ranking_id = o.ranking_id
    where o.rank is distinct from n.rank
),
conflicts as (
    select 'new_conflict', 'mart_conflicts',
           n.indicator_code || ':' || n.level || ':' || n.unit_key || ':' || n.component_code || ':' || n.year
               || ':' || n.conflict_kind || ':' || n.publication_a || ':' || n.publication_b,
           n.indicator_code, n.level, n.year, n.unit_key, null, n.component_code, n.value_a, n.value_b,
           n.rank_a, n.rank_b, n.publication_a, n.publication_b, null, null
    from new_wh.marts.mart_conflicts as n
    where not exists (
        select 1 from old_wh.marts.mart_conflicts as o
        where o.indicator_code = n.indicator_code and o.level = n.level and o.unit_key = n.unit_key
          and o.component_code = n.component_code and o.year = n.year and o.conflict_kind = n.conflict_kind
          and o.publication_a = n.publication_a and o.publication_b = n.publication_b)
)
select * from facts union all select * from ranks union all select * from conflicts
"""
# Sub-indicator values (from the 2017-2019 workbooks on): compared where both files hold the table.
SUBINDICATOR_SQL = """
select case when o.subindicator_value_id is null then 'added' when n.subindicator_value_id is null then 'removed'
            else 'changed' end,
       'fct_subindicator_values', coalesce(n.subindicator_value_id, o.subindicator_value_id),
       coalesce(n.indicator_code, o.indicator_code), coalesce(n.level, o.level), coalesce(n.year, o.year),
       coalesce(n.unit_key, o.unit_key), coalesce(n.unit_name, o.unit_name),
       coalesce(n.subindicator_code, o.subindicator_code), o.value, n.value, null, null,
       o.publication_id, n.publication_id, o.source_url, n.source_url
from old_wh.marts.fct_subindicator_values as o
full outer join new_wh.marts.fct_subindicator_values as n on o.subindicator_value_id = n.subindicator_value_id
where o.subindicator_value_id is null or n.subindicator_value_id is null or o.value is distinct from n.value
"""
COLUMNS = ("published_at", "build_id", "change", "table_name", "fact_id", "indicator_code", "level", "year",
           "unit_key", "unit_name", "component_code", "old_value", "new_value", "old_rank", "new_rank",
           "old_source", "new_source", "old_source_url", "new_source_url")
CREATE = """create table if not exists publish_changes (
    published_at varchar, build_id varchar, change varchar, table_name varchar, fact_id varchar,
    indicator_code varchar, level varchar, year integer, unit_key varchar, unit_name varchar,
    component_code varchar, old_value double, new_value double, old_rank integer, new_rank integer,
    old_source varchar, new_source varchar, old_source_url varchar, new_source_url varchar)"""


def changes_path(settings: Settings) -> Path:
    return settings.data_dir / "changes.duckdb"


class Comparison:
    """The changes between the served file and the one about to replace it, held until recorded."""

    def __init__(self, old: Path | None, new: Path):
        self.con = duckdb.connect()  # in memory: nothing is written until record()
        self.first = old is None or not old.exists()
        if self.first:
            self.counts = {"first_publish": True}
            return
        self.con.execute("attach ? as old_wh (read_only)", [str(old)])
        self.con.execute("attach ? as new_wh (read_only)", [str(new)])
        both = self.con.execute(
            "select count(distinct database_name) from duckdb_tables() where schema_name = 'marts' "
            "and table_name = 'fct_subindicator_values' and database_name in ('old_wh', 'new_wh')").fetchone()[0]
        sql = CHANGES_SQL + (f"union all {SUBINDICATOR_SQL}" if both == 2 else "")
        self.con.execute(f"create temp table found as {sql}")
        self.con.execute("detach old_wh")
        self.con.execute("detach new_wh")
        found = dict(self.con.execute("select change, count(*) from found group by 1").fetchall())
        self.counts = {kind: found.get(kind, 0) for kind in KINDS}

    def record(self, settings: Settings, published_at: str, build_id: str) -> str:
        """Append the changes to the change log (after the new file is served). Never raises: the
        publish has happened; returns what became of the log, for the publish record."""
        try:
            if self.first:
                return "first publish: nothing to compare with"
            return append(settings, self.con, published_at, build_id)
        except Exception as exc:  # a full disk, a bug: the publish stands, its record says why
            return _missing(settings, exc)
        finally:
            self.con.close()

    def close(self) -> None:
        self.con.close()


class Unavailable:
    """A comparison that could not be made: the publish goes ahead and the log says why."""

    def __init__(self, reason: str):
        self.counts = {"unavailable": reason}

    def record(self, settings: Settings, published_at: str, build_id: str) -> str:
        return f"missing: not compared ({self.counts['unavailable']})"

    def close(self) -> None:
        pass


def _missing(settings: Settings, exc: BaseException) -> str:
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    log.warning("change log not written: %s", reason, exc_info=exc)
    _warn(f"the change log {changes_path(settings)} was not written ({reason}); the publish stands and its "
          "record says the change summary is missing")
    return f"missing: {reason}"


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def append(settings: Settings, found_con, published_at: str, build_id: str) -> str:
    """Append this publish's rows to a copy of the change log and rename the copy into place: a
    reader holding the log open (even read-only, which locks the file) never blocks a publish, and
    a crash leaves the old log whole. A log that cannot be opened is moved aside, with a warning,
    and a new one starts with this publish."""
    path = changes_path(settings)
    work = path.with_name(path.name + ".incoming")
    work.unlink(missing_ok=True)
    note = "recorded"
    try:
        if path.exists():
            shutil.copyfile(path, work)
            try:
                _check(work)
            except duckdb.Error as exc:
                aside = path.with_name(f"{path.name}.unreadable-{published_at[:19].replace(':', '')}")
                os.replace(path, aside)
                work.unlink()
                first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
                _warn(f"the change log {path} could not be read ({first}); moved aside to {aside.name}, a new one "
                      "starts with this publish")
                note = f"recorded in a new change log (the old one was unreadable, moved aside to {aside.name})"
        found_con.execute("attach ? as log", [str(work)])
        try:
            found_con.execute(CREATE.replace("publish_changes", "log.publish_changes"))
            found_con.execute("insert into log.publish_changes select ?, ?, * from found", [published_at, build_id])
            found_con.execute("checkpoint log")
        finally:
            found_con.execute("detach log")
        failpoint("changes.written", work)
        with open(work, "rb") as f:
            os.fsync(f.fileno())
        os.replace(work, path)
    except BaseException:
        work.unlink(missing_ok=True)
        Path(str(work) + ".wal").unlink(missing_ok=True)
        raise
    return note


def _check(path: Path) -> None:
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("select count(*) from publish_changes").fetchone()
    finally:
        con.close()


def read(settings: Settings, since: str | None = None) -> tuple[list[str], list[tuple]]:
    """The change log's rows: those of the latest publish, or of every publish since a date."""
    path = changes_path(settings)
    if not path.exists():
        return list(COLUMNS), []
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            if since:
                rows = con.execute("select * from publish_changes where published_at >= ? "
                                   "order by published_at, change, indicator_code, year, unit_key, component_code",
                                   [since]).fetchall()
            else:
                rows = con.execute("select * from publish_changes where published_at = "
                                   "(select max(published_at) from publish_changes) "
                                   "order by change, indicator_code, year, unit_key, component_code").fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise PipelineError(f"the change log {path} cannot be read ({first}); the next publish moves it aside "
                            "and starts a new one") from None
    return list(COLUMNS), rows


def counts_line(counts: dict | None) -> str:
    if not counts:
        return "no change log for this publish"
    if counts.get("first_publish"):
        return "first publish: nothing to compare with"
    if counts.get("unavailable"):
        return f"not compared ({counts['unavailable']})"
    if not any(counts.get(k) for k in KINDS):
        return "no changes"
    return (f"{counts['added']:,} figures added, {counts['changed']:,} changed, {counts['removed']:,} removed, "
            f"{counts['rank_changed']:,} ranks changed, {counts['new_conflict']:,} new conflicts")


def parse_since(text: str) -> str:
    """A date or date-time (ISO 8601; UTC unless it says otherwise) in UTC, as the publish log
    writes it, so that it compares with published_at as text."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r} is not a date (YYYY-MM-DD) or an ISO date-time") from None
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.isoformat(timespec="seconds")

