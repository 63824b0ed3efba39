"""Analyst commands on the serving warehouse (read-only): status, rank, profile, sql.

Tables print with rich (aligned columns in a terminal, plain text when piped).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager

import duckdb
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import names
from .config import Settings, _number
from .errors import PipelineError, QueryRefused
from .landing import RawStore
from .pipeline import leftovers
from .publish import last_publish, previous_path
from .safetext import clip, escape

# In a terminal rich uses its width; piped into a file or a notebook, a wide table beats wrapping.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


# `govwh sql` runs on a connection that can read the warehouse's own tables and nothing else:
# no ATTACH, no file reads or writes (COPY, read_csv, EXPORT), no INSTALL/LOAD, and no SET of
# these settings (the configuration is locked). Temporary tables live in memory, capped.
SANDBOX = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "memory_limit": "2GB",
    "threads": 2,
    "lock_configuration": True,
}
SQL_TIMEOUT = 60.0  # seconds, for running the query, fetching and printing its result; GOVWH_SQL_TIMEOUT
MAX_ROWS = 100_000  # rows counted for the "N of M rows shown" note; beyond this: "more than 100,000"
MAX_PRINTED_ROWS = 1_000  # --limit above this prints this many
MAX_CELL = 300  # characters of one printed cell; a longer value is cut and ends with "…"
MAX_PRINTED_CELLS = 10_000  # rows x columns printed at most, and ...
MAX_PRINTED_CHARS = 300_000  # ... characters of printed cells: the table's layout time stays bounded
FETCH_CHUNK = 256
# DuckDB's memory_limit bounds its buffer manager, not a result's vectors: `select repeat('x', 10000000)
# from range(100000)` asked for 24 GB and met the kernel's OOM killer. The process's address space
# is capped at its size when `govwh sql` starts plus this, so such a query fails as "out of memory".
SQL_ADDRESS_SPACE = 6 << 30


def connect(settings: Settings, sandbox: bool = False):
    if not settings.warehouse.exists():
        raise PipelineError(f"no warehouse at {settings.warehouse}: run `make run` first")
    return duckdb.connect(str(settings.warehouse), read_only=True, config=SANDBOX if sandbox else {})


def _text(value) -> Text:
    """A cell as plain text: rich markup is not interpreted, control and other invisible characters
    (bidirectional overrides, zero-width spaces: ingest/safetext.py) are shown escaped."""
    return Text(escape("" if value is None else str(value)))


def _table(title: str, header: list[str], rows, justify_right: set[int] = frozenset()) -> Table:
    table = Table(title=_text(title) if title else None, title_justify="left", show_lines=False,
                  header_style="bold")
    for i, h in enumerate(header):
        table.add_column(_text(h), justify="right" if i in justify_right else "left", overflow="fold")
    for row in rows:
        table.add_row(*[_text(v) for v in row])
    return table


def _arrow(change) -> str:
    if change is None:
        return ""
    if change == 0:
        return "="
    return f"▲{change}" if change > 0 else f"▼{-change}"


def status(settings: Settings) -> None:
    last = last_publish(settings)
    if last:
        console.print(f"Serving warehouse: {settings.warehouse}")
        console.print(f"  last {last['action']}: {last['at']} (took {last.get('seconds', '?')} s), sha256 {last['sha256'][:16]}…")
    else:
        console.print(f"Serving warehouse: {settings.warehouse} (never published)")
    console.print(f"  previous file kept for rollback: {'yes' if previous_path(settings).exists() else 'no'}")
    for path, step in leftovers(settings):
        console.print(_text(f"  left by an interrupted run: {path} (the next `govwh {step}` removes or finishes it)"),
                      soft_wrap=True)
    records = RawStore(settings.raw_dir).records()
    if records:
        latest: dict[str, dict] = {}
        for rec in records:
            latest[rec["publication_id"]] = rec
        outcomes = Counter(r["outcome"] for r in latest.values())
        last_fetch = max(r["fetched_at"] for r in latest.values())
        console.print(f"Fetched: {len(latest)} publications, last at {last_fetch} "
                      f"({', '.join(f'{n} {o}' for o, n in sorted(outcomes.items()))}); "
                      f"{len(list(settings.raw_dir.glob('*/*')))} raw files kept by hash")
    from .watch import standing

    for line in standing(settings):  # the nightly watch: pages not answering, editions available
        console.print(_text(line), soft_wrap=True)
    con = connect(settings)
    try:
        rows = con.execute("""
            select indicator_code, level, year, units_with_figure, units_ranked, is_complete
            from marts.mart_coverage where component_code = 'overall' order by 1, 2, 3""").fetchall()
        pubs = con.execute("select source_type, count(*) from marts.dim_publication group by 1 "
                           "order by min(source_priority)").fetchall()
    finally:
        con.close()
    console.print("Publications: " + ", ".join(f"{n} {t}" for t, n in pubs))
    table_rows = [(i, lv, y, f"{n} of {r}" if r else f"{n}", "complete" if c else "partial") for i, lv, y, n, r, c in rows]
    console.print(_table("Coverage of the headline index (units with a figure / units ranked)",
                         ["indicator", "level", "year", "units", "table"], table_rows, {2, 3}))


RANK_NOTES = {"publisher_order": "publisher's sorted order", "computed_from_complete_table": "computed (complete table)"}


def _change(change, previous_units, units) -> str:
    """The rank change, with both denominators when the tables differ in size (64 in 2008, 63 after)."""
    arrow = _arrow(change)
    if arrow and previous_units and units and previous_units != units:
        arrow += f" (of {previous_units}→{units})"
    return arrow


def rank(settings: Settings, indicator: str, year: int, level: str = "province", component: str = "overall",
         top: int | None = None) -> list[tuple]:
    con = connect(settings)
    try:
        rows = con.execute("""
            select rank_label, unit_name, score_2dp, tier, rank_change, value_source_type,
                   case when rank_from_wording then 'rank from wording' when rank_derived then 'rank derived'
                        when rank_from_order_of_listing then 'order of listing' end as caveat,
                   rank_source, rank_best, rank_worst, ci_low, ci_high, previous_units_ranked, units_ranked,
                   series_first_year
            from marts.fct_rankings
            where indicator_code = ? and year = ? and level = ? and component_code = ?
            order by rank nulls last, score desc nulls last, unit_name""",
                           [indicator, year, level, component]).fetchall()
    finally:
        con.close()
    if not rows:
        raise PipelineError(f"no {indicator} {component} figures for {level}s in {year}")
    rows = rows[:top] if top else rows
    bands = any(r[8] is not None for r in rows)
    header = ["rank"] + (["band (95%)"] if bands else []) + ["unit", "score"] + (["95% interval"] if bands else []) \
        + ["tier", "change", "source", "note"]
    shown = []
    for r in rows:
        note = "; ".join(x for x in (r[6], RANK_NOTES.get(r[7])) if x)
        band = [f"{r[8]}-{r[9]}" if r[8] is not None else ""] if bands else []
        interval = [f"{r[10]:.2f}-{r[11]:.2f}" if r[10] is not None else ""] if bands else []
        shown.append((r[0] or "-", *band, r[1], f"{r[2]:.2f}" if r[2] is not None else "", *interval, r[3],
                      _change(r[4], r[12], r[13]), r[5], note))
    plural = {"province": "provinces", "ministry": "ministries"}[level]
    title = f"{indicator} {component} {year}, {plural}"
    if rows[0][14] is not None:
        title += f" (series since {rows[0][14]}: not compared with earlier years)"
    console.print(_table(title, header, shown, {header.index("score")}))
    if bands:
        console.print("band: the best and worst rank each unit could hold given the publisher's 95% intervals "
                      "(1 + units wholly above; 1 + other units whose interval reaches this one's low end).")
    return rows


def changes(settings: Settings, since: str | None = None, limit: int = 200) -> list[tuple]:
    """The change log (ingest/changes.py): the latest publish's changes, or every publish's since a date."""
    from .changes import counts_line, parse_since, read
    from .publish import records

    try:
        since_at = parse_since(since) if since else None
    except ValueError as exc:
        raise PipelineError(str(exc)) from None
    publishes = [r for r in records(settings) if r.get("action") == "publish"]
    if since_at:
        publishes = [r for r in publishes if r["at"] >= since_at]
    elif publishes:
        publishes = publishes[-1:]
    if not publishes:
        console.print(f"no changes: nothing was published{' since ' + since_at if since_at else ''}")
        return []
    for r in publishes:
        console.print(f"publish of {r['at']}: {counts_line(r.get('changes'))}")
    header, rows = read(settings, since_at)
    if not since_at:
        rows = [row for row in rows if row[0] == publishes[-1]["at"]]
    shown = [(at[:19], change, ind, lv, year, name or unit, comp, _fmt(old_v), _fmt(new_v), old_r, new_r,
              _sources(old_s, new_s))
             for at, _b, change, _t, _id, ind, lv, year, unit, name, comp, old_v, new_v, old_r, new_r, old_s, new_s,
             _ou, _nu in rows[:limit]]
    if shown:
        console.print(_table("", ["published", "change", "indicator", "level", "year", "unit", "component", "old",
                                  "new", "old rank", "new rank", "source"], shown))
    if len(rows) > limit:
        console.print(f"({len(rows) - limit} more rows not shown; {len(rows)} in all; --limit to see more)")
    return rows


def _sources(old: str | None, new: str | None) -> str:
    return new or old or "" if (old is None or new is None or old == new) else f"{old} → {new}"


def _fmt(value) -> str:
    return "" if value is None else f"{value:g}"


def resolve_province(name: str) -> str:
    registry = names.provinces()
    key = registry.lookup(name, 2024) or registry.lookup(name)
    if key is None:
        raise PipelineError(f"unknown province {name!r}; nearest: {', '.join(registry.candidates(name))}")
    return key


def profile(settings: Settings, name: str) -> list[tuple]:
    key = resolve_province(name)
    con = connect(settings)
    try:
        info = con.execute("""select province_name, province_code, region_en, current_province_name, valid_to
            from marts.dim_province where province_key = ?""", [key]).fetchone()
        rows = con.execute("""
            select year, pci_score, pci_rank_label, pci_tier, papi_score, papi_rank_label,
                   par_index_score, par_index_rank_label, sipas_score, sipas_rank_label
            from marts.mart_province_scorecard where province_key = ? order by year""", [key]).fetchall()
        latest = "from marts.mart_unit_latest where unit_key = ? and level = 'province'"
        streaks = con.execute(f"""select indicator_code, year, streak_top1_years, streak_top1_status, streak_top3_years,
            streak_top3_status {latest} and component_code = 'overall' and rank is not null order by indicator_code""",
                              [key]).fetchall()
        components = con.execute(f"""select year, component_name_en, score_2dp, rank_label {latest}
            and indicator_code = 'pci' and component_code <> 'overall' order by component_sort_order""",
                                 [key]).fetchall()
    finally:
        con.close()
    pname, code, region, today, valid_to = info
    console.print(Text.assemble((pname, "bold"), f" (GSO {code}, {region})" +
                                ("" if valid_to is None else f"; existed until {valid_to}, today part of {today}")))

    def fmt(score, label):
        return "" if score is None and label is None else f"{score:.2f}" + (f" ({label})" if label else "") \
            if score is not None else f"({label})"

    shown = [(y, fmt(a, b), c, fmt(d, e), fmt(f, g), fmt(h, i)) for y, a, b, c, d, e, f, g, h, i in rows]
    console.print(_table("Every indicator over the years (score, rank)", ["year", "PCI", "PCI tier", "PAPI",
                                                                           "PAR INDEX", "SIPAS"], shown))
    if components:
        console.print(_table(f"PCI sub-indices, {components[0][0]}", ["sub-index", "score", "rank"],
                             [(n, f"{s:.2f}" if s is not None else "", r) for _y, n, s, r in components], {1}))
    if streaks:
        console.print(_table("Streaks as of the latest ranked year", ["indicator", "as of", "years 1st", "status",
                                                                     "years top 3", "status"], streaks))
    return rows


def sql_timeout() -> float:
    """The limit of `govwh sql` in seconds: GOVWH_SQL_TIMEOUT, else 60."""
    return _number(os.environ, "GOVWH_SQL_TIMEOUT", SQL_TIMEOUT, 0.1, 3600)


class _Printed:
    """The part of a result that gets printed, gathered while fetching: cells are clipped as they
    arrive (a 10-million-character value is never kept whole) and the rows stop within the limits."""

    def __init__(self, header: list[str], limit: int):
        self.header = [clip(h, MAX_CELL)[0] for h in header]
        by_cells = max(1, MAX_PRINTED_CELLS // max(len(header), 1))
        self.room = min(limit, MAX_PRINTED_ROWS, by_cells)
        self.cap = None  # which limit of govwh sql (not --limit) stops the rows, if one does
        if self.room < limit:
            self.cap = f"at most {MAX_PRINTED_ROWS:,} rows" if self.room == MAX_PRINTED_ROWS else self._wide
        self.rows: list[list[str]] = []
        self.total = 0  # rows counted
        self.cut_cells = 0
        self.chars = 0

    _wide = f"at most {MAX_PRINTED_CELLS:,} cells and {MAX_PRINTED_CHARS:,} characters"

    def add(self, row) -> None:
        self.total += 1
        if len(self.rows) >= self.room:
            return
        cells, cut = [], 0
        for value in row:
            shown, was_cut = clip("" if value is None else str(value), MAX_CELL)
            cells.append(shown)
            cut += was_cut
        size = sum(len(c) for c in cells)
        if self.rows and self.chars + size > MAX_PRINTED_CHARS:
            self.room, self.cap = len(self.rows), self._wide
            return
        self.chars += size
        self.cut_cells += cut
        self.rows.append(cells)

    def note(self, more: bool) -> str | None:
        parts = []
        if more or self.total > len(self.rows):
            total = f"more than {MAX_ROWS:,}" if more else f"{self.total:,}"
            why = f"govwh sql prints {self.cap}" if self.cap else "--limit to see more"
            parts.append(f"{len(self.rows):,} of {total} rows shown; {why}")
        if self.cut_cells:
            parts.append(f"{self.cut_cells:,} {'cell' if self.cut_cells == 1 else 'cells'} cut to "
                         f"{MAX_CELL} characters, marked …")
        return f"({'; '.join(parts)})" if parts else None


@contextmanager
def _address_space_cap(headroom: int):
    """RLIMIT_AS lowered to the address space mapped now plus headroom, for the duration (Linux; an
    existing lower limit stays; elsewhere nothing happens)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm", encoding="ascii") as f:
            cap = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE") + headroom
    except (ImportError, OSError, ValueError):
        cap = None
    if cap is None or (soft != resource.RLIM_INFINITY and soft <= cap) or \
            (hard != resource.RLIM_INFINITY and hard < cap):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _too_big() -> PipelineError:
    return PipelineError(f"query failed: its result needs more memory than govwh sql allows "
                         f"({SQL_ADDRESS_SPACE >> 30} GB beyond its own); select fewer or shorter values")


def _stopped(timeout: float) -> QueryRefused:
    return QueryRefused(f"query stopped after {timeout:g} s (the limit for govwh sql, from running the query "
                        "to printing its result; GOVWH_SQL_TIMEOUT)")


def _render(renderables, deadline: float, timeout: float) -> str:
    """The text rich prints for renderables, laid out in a worker thread so the deadline holds even
    while rich works (the limits above keep that short; a thread still running is abandoned)."""
    out: dict = {}

    def work():
        try:
            with console.capture() as captured:  # rich keeps the capture buffer per thread
                for r in renderables:
                    console.print(r)
            out["text"] = captured.get()
        except BaseException as exc:  # re-raised in the calling thread
            out["error"] = exc

    worker = threading.Thread(target=work, name="govwh-sql-render", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        raise _stopped(timeout)
    if "error" in out:
        raise out["error"]
    return out["text"]


FORMATS = ("table", "csv", "json")


def sql(settings: Settings, query: str, limit: int = 50, timeout: float | None = None, fmt: str = "table") -> dict:
    """Read-only SQL in a sandbox (see SANDBOX). One deadline, `timeout` seconds (GOVWH_SQL_TIMEOUT,
    else 60), covers running the query, fetching the rows and laying out the table: a timer
    interrupts the connection, and the layout works on clipped cells within the MAX_PRINTED_*
    limits. fmt "csv" or "json" writes the first `limit` rows (at most MAX_ROWS) whole, for
    scripts (see _write_rows). Returns {"rows": rows counted, "shown": rows printed or written,
    "cut_cells": n, "more": bool}."""
    timeout = sql_timeout() if timeout is None else timeout
    if limit < 0:
        raise PipelineError(f"--limit must be 0 or more, not {limit}")
    if fmt not in FORMATS:
        raise PipelineError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt != "table" and limit > MAX_ROWS:
        raise PipelineError(f"--limit with --format {fmt} is at most {MAX_ROWS:,} rows (the exports hold every "
                            "row: govwh export)")
    with _address_space_cap(SQL_ADDRESS_SPACE):
        try:
            if fmt != "table":
                return _sql_rows(settings, query, limit, timeout, fmt)
            return _sql(settings, query, limit, timeout)
        except MemoryError:
            raise _too_big() from None


def _json_value(value):
    """A value as JSON holds it exactly: a DECIMAL as a number when a double holds it exactly, else
    as its text; NaN and infinities (which JSON lacks) as their text; dates, times, UUIDs and
    intervals as text."""
    import datetime as dt
    import math
    import uuid
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value) if Decimal(repr(float(value))) == value else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, dt.timedelta)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def _json_escape(ch: str) -> str:
    """A character as JSON's \\u escape (a surrogate pair above U+FFFF), which decodes back to it."""
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _write_rows(header: list[str], rows: list, fmt: str, out) -> None:
    """CSV (Python's csv module; text as the exports write it: hidden characters escaped, a cell a
    spreadsheet would run as a formula led by an apostrophe) or JSON (an array of objects; every
    value exact, hidden characters written as JSON's own \\u escapes, which decode back to them)."""
    if fmt == "csv":
        import csv

        from .exports import text_cell

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([text_cell(h) for h in header])
        writer.writerows([text_cell(v) for v in row] for row in rows)
        return
    import json

    from .safetext import is_hidden

    text = json.dumps([dict(zip(header, map(_json_value, row))) for row in rows], ensure_ascii=False, indent=1,
                      allow_nan=False)
    if not text.isprintable():  # ensure_ascii=False leaves bidi overrides and the like raw: escape them
        text = "".join(_json_escape(ch) if ch != "\n" and is_hidden(ch) else ch for ch in text)
    out.write(text + "\n")


@contextmanager
def _sandboxed(settings: Settings, timeout: float):
    """The sandboxed connection of `govwh sql` under one deadline (a timer interrupts it), and
    DuckDB's errors as the one-line errors the command prints."""
    con = connect(settings, sandbox=True)
    timer = threading.Timer(timeout, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield con
    except duckdb.InterruptException:
        raise _stopped(timeout) from None
    except (duckdb.PermissionException, duckdb.InvalidInputException) as exc:
        first = str(exc).splitlines()[0]
        raise QueryRefused(f"query refused: govwh sql is read-only and sees only the warehouse's tables "
                           f"({first})") from None
    except duckdb.OutOfMemoryException:
        raise _too_big() from None
    except duckdb.Error as exc:
        raise PipelineError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        timer.cancel()
        con.close()


def _sql_rows(settings: Settings, query: str, limit: int, timeout: float, fmt: str) -> dict:
    """`govwh sql --format csv|json`: the first `limit` rows, whole, to stdout; how many more there
    were goes to stderr, so a script's output stays data."""
    with _sandboxed(settings, timeout) as con:
        cur = con.execute(query)
        header = [d[0] for d in cur.description] if cur.description else []
        twice = sorted({h for h in header if header.count(h) > 1})
        if fmt == "json" and twice:  # an object holds a name once: a column would silently disappear
            raise PipelineError(f"--format json needs distinct column names; {', '.join(map(repr, twice))} "
                                "appear more than once: name them with AS")
        rows = cur.fetchmany(limit) if cur.description and limit else []
        counted = len(rows)
        while cur.description and counted < MAX_ROWS:
            chunk = cur.fetchmany(min(FETCH_CHUNK * 16, MAX_ROWS - counted))
            if not chunk:
                break
            counted += len(chunk)
        more = bool(cur.description) and counted >= MAX_ROWS and bool(cur.fetchmany(1))
    _write_rows(header, rows, fmt, sys.stdout)
    sys.stdout.flush()
    if more or counted > len(rows):
        total = f"more than {MAX_ROWS:,}" if more else f"{counted:,}"
        sys.stderr.write(f"({len(rows):,} of {total} rows written; --limit to write more)\n")
    return {"rows": counted, "shown": len(rows), "cut_cells": 0, "more": more}


def _sql(settings: Settings, query: str, limit: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    with _sandboxed(settings, timeout) as con:
        cur = con.execute(query)
        printed = _Printed([d[0] for d in cur.description] if cur.description else [], limit)
        more = False
        while cur.description:
            chunk = cur.fetchmany(FETCH_CHUNK)
            for row in chunk:
                if printed.total >= MAX_ROWS:
                    more = True
                    break
                printed.add(row)
            if more or not chunk:
                break
            del chunk
            if time.monotonic() > deadline:  # the timer's interrupt is due: do not wait for it
                raise _stopped(timeout)
    table = Table(show_lines=False, header_style="bold")
    for h in printed.header:
        table.add_column(Text(h), overflow="fold")
    for cells in printed.rows:
        table.add_row(*[Text(c) for c in cells])
    note = printed.note(more)
    text = _render([table] + ([Text(note)] if note else []), deadline, timeout)
    sys.stdout.write(text)
    sys.stdout.flush()
    return {"rows": printed.total, "shown": len(printed.rows), "cut_cells": printed.cut_cells, "more": more}
