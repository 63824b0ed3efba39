"""Issue #20, second hardening round: files registered through GOVWH_CATALOGUE_EXTRA stay inside the
registration's folder, tidy bundles that inflate without bound (decompression bombs) are refused
before DuckDB reads them, and no error line, whatever caused it, runs to megabytes.

Every file written here is a SYNTHETIC test fixture (registrations titled and published as SYNTHETIC,
bombs of repeated filler); none holds a real figure. The real command line runs in a subprocess.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from ingest import catalogue
from ingest.errors import MAX_MESSAGE, CatalogueError, FetchError, LayoutError, PipelineError
from ingest.parsers import ParseContext, parse
from ingest.tidy import COLUMNS

from conftest import assert_one_line_error, assert_untouched, govwh, make_settings, snapshot

PASSWD = Path("/etc/passwd")
PUB = catalogue.get("vcci-pci-2017")
SECRET = "SYNTHETIC-OUTSIDE-FILE-MARKER-7f3a9c"  # written only into files outside the registration's folder


def _entry(file: str, id: str = "synthetic-limits", **over) -> dict:
    entry = {"id": id, "indicator": "pci", "level": "province", "years": [2017],
             "publisher": "SYNTHETIC test fixture", "title": "SYNTHETIC: a registration to be refused",
             "licence": "SYNTHETIC", "file": file, "expected_units": 63}
    entry.update(over)
    return entry


def _register(folder: Path, *entries: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalogue.json"
    path.write_text(json.dumps({"publications": list(entries)}), encoding="utf-8")
    return path


def _raw_store(settings) -> dict[str, bytes]:
    """Every file of the raw store (manifest included), by path, with its bytes."""
    return {str(p.relative_to(settings.raw_dir)): p.read_bytes()
            for p in sorted(settings.raw_dir.rglob("*")) if p.is_file()}


def _log(settings) -> str:
    path = settings.data_dir / "logs" / "govwh.log"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _passwd_lines() -> list[str]:
    return [line for line in PASSWD.read_text(encoding="utf-8", errors="replace").splitlines() if len(line) >= 8]


# ------------------------------------------------------------------ (6) links out of the folder
def _link_to_passwd(folder: Path, tmp_path: Path) -> tuple[str, list[str]]:
    (folder / "x.csv.gz").symlink_to(PASSWD)
    return (r"file 'x\.csv\.gz' is a symbolic link to /etc/passwd, outside .*registered; a registered bundle "
            r"must be a regular file in the folder of catalogue\.json"), _passwd_lines() + ["b'ro'", "root:x:0"]


def _link_out_of_the_folder(folder: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """A SYNTHETIC gzipped file elsewhere, its first line a marker, reached by a relative link."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.csv.gz").write_bytes(gzip.compress(f"{SECRET},SYNTHETIC\n{SECRET}\n".encode()))
    (folder / "x.csv.gz").symlink_to(Path("..") / "elsewhere" / "other.csv.gz")
    return (r"file 'x\.csv\.gz' is a symbolic link to .*/elsewhere/other\.csv\.gz, outside .*registered; "
            r"a registered bundle must be a regular file"), [SECRET, SECRET[:12]]


def _named_pipe(folder: Path, tmp_path: Path) -> tuple[str, list[str]]:
    os.mkfifo(folder / "x.csv.gz")  # opening it would wait for a writer forever
    return r"file 'x\.csv\.gz' is a named pipe \(fifo\), not a regular file", []


def _directory(folder: Path, tmp_path: Path) -> tuple[str, list[str]]:
    (folder / "x.csv.gz").mkdir()
    return r"file 'x\.csv\.gz' is a directory, not a regular file", []


@pytest.mark.parametrize("make", [_link_to_passwd, _link_out_of_the_folder, _named_pipe, _directory],
                         ids=["link to /etc/passwd", "link to a file outside", "named pipe", "directory"])
def test_a_registered_file_that_is_not_a_regular_file_in_the_folder_is_refused_and_nothing_lands(
        make, warehouse_copy, tmp_path):
    folder = tmp_path / "registered"
    path = _register(folder, _entry("x.csv.gz"))
    pattern, never_shown = make(folder, tmp_path)
    raw_before, log_before = _raw_store(warehouse_copy), _log(warehouse_copy)
    before = snapshot(warehouse_copy)

    proc = govwh(warehouse_copy, "fetch", env={"GOVWH_CATALOGUE_EXTRA": str(path)}, timeout=120)

    line = assert_one_line_error(proc, r"^error: GOVWH_CATALOGUE_EXTRA='.*/registered/catalogue\.json': "
                                       r"publication 1: " + pattern)
    assert len(line) < 500, line
    assert _raw_store(warehouse_copy) == raw_before  # nothing landed, the manifest as it was
    assert_untouched(warehouse_copy, before)
    logged = _log(warehouse_copy)[len(log_before):]
    assert "CatalogueError" in logged  # the traceback went to the log ...
    for text in never_shown:  # ... and neither it nor the screen shows a byte of the file
        assert text not in proc.stdout and text not in proc.stderr and text not in logged, text


def test_a_link_that_stays_inside_the_folder_is_followed(tmp_path):
    """A link within the folder (as a mounted Kubernetes ConfigMap has: name -> ..data/name) is fine."""
    folder = tmp_path / "registered"
    (folder / "..data").mkdir(parents=True)
    (folder / "..data" / "extra.csv.gz").write_bytes(PUB.bundle_file.read_bytes())
    (folder / "x.csv.gz").symlink_to(Path("..data") / "extra.csv.gz")
    (pub,) = catalogue.extra(_register(folder, _entry("x.csv.gz")))
    assert pub.local_file == folder.resolve() / "x.csv.gz"


def test_a_registration_that_is_a_link_out_of_its_folder_is_refused(tmp_path):
    """The folder the variable names bounds every file: a JSON file linked from elsewhere would have
    its bundles looked for in a folder nobody named."""
    real = _register(tmp_path / "elsewhere", _entry("x.csv.gz"))
    (tmp_path / "elsewhere" / "x.csv.gz").write_bytes(PUB.bundle_file.read_bytes())
    (tmp_path / "named").mkdir()
    link = tmp_path / "named" / "catalogue.json"
    link.symlink_to(real)
    with pytest.raises(CatalogueError, match=r"^GOVWH_CATALOGUE_EXTRA='.*/named/catalogue\.json': file "
                                             r"'catalogue\.json' is a symbolic link to .*/elsewhere/catalogue\.json, "
                                             r"outside .*/named; the registration must be a regular file"):
        catalogue.extra(link)


def test_a_bundle_swapped_for_a_link_after_the_catalogue_was_read_is_not_fetched(tmp_path):
    """The fetch checks the file again: a link put in place since is refused, and nothing lands."""
    from ingest.fetch import fetch
    from ingest.landing import RawStore

    folder = tmp_path / "registered"
    folder.mkdir()
    (folder / "x.csv.gz").write_bytes(PUB.bundle_file.read_bytes())
    (pub,) = catalogue.extra(_register(folder, _entry("x.csv.gz")))
    (folder / "x.csv.gz").unlink()
    (folder / "x.csv.gz").symlink_to(PASSWD)
    settings = make_settings(tmp_path / "data")
    with pytest.raises(FetchError, match=r"file 'x\.csv\.gz' is a symbolic link to /etc/passwd, outside"):
        fetch(pub, settings, RawStore(settings.raw_dir))
    assert not [p for p in settings.raw_dir.rglob("*") if p.is_file()]


def test_a_file_that_is_not_gzip_is_refused_without_quoting_its_bytes(tmp_path):
    path = tmp_path / "plain.csv.gz"
    path.write_text(f"{SECRET}:x:0:0:SYNTHETIC\n", encoding="utf-8")
    ctx = ParseContext(path=path, label="synthetic-limits (plain.csv.gz)", source_sha256="0" * 64,
                       source_file=path.name)
    with pytest.raises(LayoutError) as err:
        parse("tidy_bundle", PUB, ctx)
    assert str(err.value) == "synthetic-limits (plain.csv.gz): cannot read bundle (not a gzip file)"


# ------------------------------------------------------------------ (7) decompression bombs
def _bomb(path: Path, mib: int, header: bool) -> None:
    """SYNTHETIC decompression bomb, written as a stream (the test never holds it): the tidy header,
    then `mib` MiB of one repeated row of filler; or, without the header, one line of filler with no
    line end at all (the case that became a 314 MB error message). gzip level 9: 1-3 KB per MiB."""
    row = ",".join(["synthetic-bomb", "pci", "province", "2017", "SYNTHETIC filler"] + [""] * 16) + "\n"
    unit = row.encode() if header else b"SYNTHETIC-filler "
    block = unit * ((1 << 20) // len(unit))
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        if header:
            f.write(z.compress((",".join(COLUMNS) + "\n").encode()))
        for _ in range(mib):
            f.write(z.compress(block))
        f.write(z.flush())


# Runs argv[3:] as its child, writes that child's peak memory (KiB, os.wait4's ru_maxrss) to argv[1],
# exits with its exit code; kills it after argv[2] seconds.
_LAUNCHER = """
import os, subprocess, sys, threading
child = subprocess.Popen(sys.argv[3:])
timer = threading.Timer(float(sys.argv[2]), child.kill)
timer.start()
_, status, usage = os.wait4(child.pid, 0)
timer.cancel()
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _govwh_measured(settings, *args: str, env: dict, timeout: float = 300) -> SimpleNamespace:
    """conftest.govwh, with its peak memory (os.wait4's ru_maxrss, read by a launcher: see below) and
    stdout/stderr read through files, at most 1 MB of each (a broken build could print far more)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    full_env.update({"GOVWH_DATA_DIR": str(settings.data_dir), "GOVWH_WAREHOUSE": str(settings.warehouse),
                     "GOVWH_CURATED_DIR": str(settings.curated_dir),
                     "GOVWH_DBT_PROJECT_DIR": str(settings.dbt_project_dir), "PYTHONUNBUFFERED": "1", **env})
    out_path, err_path = settings.data_dir.parent / "child.stdout", settings.data_dir.parent / "child.stderr"
    peak_path = settings.data_dir.parent / "child.peak"
    # govwh runs as the grandchild of a small launcher: a process keeps the peak memory of the one it
    # was forked from (Linux carries the parent's high-water mark across fork and exec), so a child
    # of this pytest worker reported the worker's own peak (732 MiB in CI after a few hundred tests,
    # 256 MiB in a fresh one); the launcher's is a few MiB.
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        child = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(peak_path), str(timeout),
                                  sys.executable, "-m", "ingest", *args], env=full_env, stdout=out, stderr=err)
        try:
            child.wait(timeout=timeout + 60)
        except subprocess.TimeoutExpired:
            child.kill()
            raise
    peak_kib = int(peak_path.read_text())

    def head(path: Path) -> str:
        with open(path, "rb") as f:
            return f.read(1 << 20).decode("utf-8", errors="replace")

    return SimpleNamespace(returncode=child.returncode, stdout=head(out_path), stderr=head(err_path),
                           stderr_bytes=err_path.stat().st_size, peak_mib=peak_kib / 1024)


@pytest.mark.parametrize("header", [True, False], ids=["rows after the header", "one line without an end"])
def test_a_decompression_bomb_is_refused_before_duckdb_reads_it(header, warehouse_copy, tmp_path):
    folder = tmp_path / "registered"
    folder.mkdir()
    _bomb(folder / "bomb.csv.gz", mib=300, header=header)
    packed = (folder / "bomb.csv.gz").stat().st_size
    assert packed < 1_200_000 and (300 << 20) / packed > 250  # 0.3-1 MB inflating to 300 MiB
    path = _register(folder, _entry("bomb.csv.gz", id="synthetic-bomb"))
    before = snapshot(warehouse_copy)
    parsed_before = sorted(str(p.relative_to(warehouse_copy.parsed_dir)) for p in warehouse_copy.parsed_dir.rglob("*"))

    proc = _govwh_measured(warehouse_copy, "run", "--direct", env={"GOVWH_CATALOGUE_EXTRA": str(path)})

    assert proc.stderr_bytes < 1000, f"{proc.stderr_bytes:,} bytes on stderr"
    line = assert_one_line_error(proc, r"^error: synthetic-bomb \(bomb\.csv\.gz\): refused: the bundle inflates to "
                                       rf"more than [\d,]+ bytes from {packed:,}: over the cap of 200 times its size "
                                       r"\(a decompression bomb\?\); inflating stopped there, nothing of it was loaded$")
    assert len(line) < 500, line
    assert proc.peak_mib < 600, f"peak {proc.peak_mib:.0f} MiB"
    assert_untouched(warehouse_copy, before)
    assert sorted(str(p.relative_to(warehouse_copy.parsed_dir))
                  for p in warehouse_copy.parsed_dir.rglob("*")) == parsed_before


def test_a_bundle_over_the_inflated_size_cap_is_refused(monkeypatch, tmp_path):
    """The size cap, whatever the ratio: a real embedded bundle (ratio ~19) against a cap of 1 MiB."""
    from ingest.parsers import tidy_bundle

    pub = catalogue.get("undp-papi-2011-2019")  # inflates to ~4 MB
    monkeypatch.setattr(tidy_bundle, "MAX_INFLATED", 1 << 20)
    ctx = ParseContext(path=pub.bundle_file, label=f"{pub.id} (x.csv.gz)", source_sha256="0" * 64,
                       source_file="x.csv.gz")
    with pytest.raises(LayoutError, match=r"^undp-papi-2011-2019 \(x\.csv\.gz\): refused: the bundle inflates to "
                                          r"more than 1,048,576 bytes, the cap on a bundle's inflated size"):
        parse("tidy_bundle", pub, ctx)


def test_a_first_line_too_long_to_be_the_header_is_not_read_whole(tmp_path):
    """SYNTHETIC: 1 MiB of incompressible-looking text (under the ratio cap) with no line end."""
    import hashlib

    filler = b"".join(hashlib.sha256(str(i).encode()).hexdigest().encode() for i in range(1 << 15))
    path = tmp_path / "long.csv.gz"
    path.write_bytes(gzip.compress(filler))
    ctx = ParseContext(path=path, label="synthetic-limits (long.csv.gz)", source_sha256="0" * 64,
                       source_file=path.name)
    with pytest.raises(LayoutError) as err:
        parse("tidy_bundle", PUB, ctx)
    assert str(err.value) == ("synthetic-limits (long.csv.gz), line 1: the first line runs over 4,096 bytes: "
                              "not the tidy schema's header (21 column names)")


def test_a_huge_value_is_quoted_a_few_dozen_characters_long(tmp_path):
    """SYNTHETIC: the PCI 2017 bundle with one year of 100,000 digits (digits only, beyond INTEGER)."""
    lines = gzip.decompress(PUB.bundle_file.read_bytes()).decode("utf-8").split("\n")
    lines[1] = lines[1].replace(",2017,", "," + "9" * 100_000 + ",", 1)
    path = tmp_path / "edited.csv.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    ctx = ParseContext(path=path, label="vcci-pci-2017 (edited.csv.gz)", source_sha256="0" * 64,
                       source_file=path.name)
    with pytest.raises(LayoutError) as err:
        parse("tidy_bundle", PUB, ctx)
    assert re.fullmatch(r"vcci-pci-2017 \(edited\.csv\.gz\), line 2: bad value \(year = '9{59}…' is not integer\)",
                        str(err.value)), str(err.value)


# ------------------------------------------------------------------ every error line is capped
def test_an_error_message_of_a_megabyte_is_capped():
    exc = PipelineError("first words\n" + "y" * 1_000_000)
    text = str(exc)
    assert len(text) == MAX_MESSAGE and text.endswith("…") and text.startswith("first words yyy")
    assert "\n" not in text
    assert str(PipelineError("short\n  message")) == "short message"  # short ones as before


CHILD = """
import sys
from ingest import cli
from ingest.errors import LayoutError

def boom(args, settings):
    if sys.argv[1] == "pipeline":
        raise LayoutError("synthetic.csv.gz", "cause\\n" + "z" * 1_000_000, row=3)
    raise RuntimeError("a bug's message\\n" + "w" * 1_000_000)

cli._dispatch = boom
sys.exit(cli.main(["status"]))
"""


@pytest.mark.parametrize("kind, pattern", [
    ("pipeline", r"^error: synthetic\.csv\.gz, line 3: cause z+…$"),
    ("bug", r"^error: unexpected RuntimeError: a bug's message w+… \(traceback: .*govwh\.log\)$"),
])
def test_the_command_line_prints_a_megabyte_error_capped(kind, pattern, tmp_path):
    """Through cli.main, as `govwh` runs it: one line, capped, ending with "…" (the bug's message
    is cut at 300 characters and the line still names the log)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    env["GOVWH_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-c", CHILD, kind], env=env, capture_output=True, text=True,
                          timeout=120)
    line = assert_one_line_error(proc, pattern)
    assert len(line) <= len("error: ") + MAX_MESSAGE, len(line)
    if kind == "bug":
        assert len(line) < 500
