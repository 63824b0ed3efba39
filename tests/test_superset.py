"""The ready BI dashboard: Compose's `bi` profile as local processes. Superset 6.1 in its own
environment (installed from deploy/superset/requirements.lock into .cache/superset/, as a user's
Superset would be), started by the same deploy/superset/start.sh the profile runs, reading a
PostgreSQL mirror of the built warehouse as bi_reader; checked from the outside through Superset's
REST API and in Chromium. Marked `bi`: `make test-bi` runs it and `.ci/run` runs that after
`make test` (about 4-6 minutes, most of it Superset's own migrations)."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from ingest import pipeline
from ingest.config import REPO_ROOT

from conftest import _free_port, cached_venv, query

pytestmark = pytest.mark.bi

SUPERSET_DIR = REPO_ROOT / "deploy" / "superset"
ADMIN_PASSWORD = "synthetic-superset-admin-pw"  # synthetic test secrets, 16+ characters
READER_PASSWORD = "synthetic-bi-reader-password"
DATABASE = "superset_governance"


def _superset_env() -> Path:
    """Superset's own environment, keyed on its lock file (installed once, reused from .cache/)."""
    lock = SUPERSET_DIR / "requirements.lock"
    folder = REPO_ROOT / ".cache" / "superset" / hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    return cached_venv(folder, "-r", str(lock)).parent


def _wait(what: str, check, timeout: float, proc: subprocess.Popen, log: Path, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"start.sh ended ({proc.returncode}) before {what}: {log.read_text()[-3000:]}")
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def superset(built_warehouse, postgres, tmp_path_factory):
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(f'drop database if exists "{DATABASE}"')
        con.execute(f'create database "{DATABASE}"')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOVWH_PG_READER_PASSWORD", READER_PASSWORD)
        pipeline.mirror(built_warehouse, postgres.rsplit("/", 1)[0] + "/" + DATABASE, reader_login="bi_reader")
    env_dir = _superset_env()
    home = tmp_path_factory.mktemp("superset-home")
    port = _free_port()
    dsn_port = postgres.rsplit(":", 1)[1].split("/", 1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVWH_", "SUPERSET_", "VIRTUAL_ENV"))}
    env.update({"PATH": f"{env_dir / 'bin'}:{env['PATH']}", "SUPERSET_HOME": str(home),
                "SUPERSET_SECRET_KEY": "synthetic-superset-secret-key-0123456789",
                "SUPERSET_ADMIN_PASSWORD": ADMIN_PASSWORD, "BI_READER_PASSWORD": READER_PASSWORD,
                "GOVWH_MIRROR_HOST": "127.0.0.1", "GOVWH_MIRROR_PORT": dsn_port, "GOVWH_MIRROR_DATABASE": DATABASE,
                "SUPERSET_BIND": f"127.0.0.1:{port}", "SUPERSET_WORKERS": "1", "PYTHONUNBUFFERED": "1"})
    log = home / "start.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", str(SUPERSET_DIR / "start.sh")], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait("Superset's health check", lambda: requests.get(base + "/health", timeout=5).text == "OK", 900, proc, log)
        yield base, log, built_warehouse, env
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _api(base: str) -> requests.Session:
    session = requests.Session()
    token = session.post(base + "/api/v1/security/login", json={"username": "admin", "password": ADMIN_PASSWORD,
                                                                "provider": "db", "refresh": False}, timeout=30)
    token.raise_for_status()
    session.headers["Authorization"] = "Bearer " + token.json()["access_token"]
    return session


def _chart_data(api: requests.Session, base: str, chart_id: int, filters: list[dict]) -> list[dict]:
    """What the chart shows with the dashboard's native filter set: the saved query plus that filter."""
    chart = api.get(f"{base}/api/v1/chart/{chart_id}", timeout=30).json()["result"]
    context = json.loads(chart["query_context"])
    context["queries"][0]["filters"] = filters
    context["force"] = True  # past Superset's result cache: the database answers every time
    resp = api.post(base + "/api/v1/chart/data", json=context, timeout=120)
    assert resp.ok, resp.text[:2000]
    return resp.json()["result"][0]["data"]


def test_the_dashboard_imports_and_its_charts_show_the_marts(superset):
    base, log, warehouse, _ = superset
    text = log.read_text()
    assert "imported the governance dashboard (8 files) into Superset" in text, text[-2000:]
    assert "[superset] admin login created" in text and "[superset] warning" not in text
    api = _api(base)
    (dashboard,) = api.get(base + "/api/v1/dashboard/", timeout=30).json()["result"]
    assert dashboard["dashboard_title"] == "Vietnam governance rankings" and dashboard["published"]
    charts = {c["slice_name"]: c["id"] for c in
              api.get(f"{base}/api/v1/dashboard/{dashboard['id']}/charts", timeout=30).json()["result"]}
    assert set(charts) == {"PCI ranking", "PCI score by province", "A province's indices over time"}
    # the database is the mirror, read as bi_reader; the password is not in what Superset returns
    (database,) = api.get(base + "/api/v1/database/", timeout=30).json()["result"]
    detail = api.get(f"{base}/api/v1/database/{database['id']}/connection", timeout=30).json()["result"]
    assert detail["sqlalchemy_uri"].startswith("postgresql://bi_reader:XXXXXXXXXX@127.0.0.1:")
    # datasets carry the dbt descriptions
    datasets = {d["table_name"]: d["id"] for d in api.get(base + "/api/v1/dataset/", timeout=30).json()["result"]}
    ranking = api.get(f"{base}/api/v1/dataset/{datasets['mart_pci_provincial_ranking']}", timeout=30).json()["result"]
    assert ranking["schema"] == "marts" and ranking["description"].startswith("Grain: province x PCI year.")
    columns = {c["column_name"]: c["description"] for c in ranking["columns"]}
    assert columns["rank_label"] == 'The rank as "12 of 63".' and all(columns.values())

    # the dashboard's two filters: Year (default 2020) for the PCI charts, Province for the line chart
    metadata = json.loads(api.get(f"{base}/api/v1/dashboard/{dashboard['id']}", timeout=30).json()["result"]
                          ["json_metadata"])
    filters = {f["name"]: f for f in metadata["native_filter_configuration"]}
    assert filters["Year"]["defaultDataMask"]["filterState"]["value"] == [2020]
    assert set(filters["Year"]["scope"]["excluded"]) == {charts["A province's indices over time"]}
    assert set(filters["Province"]["scope"]["excluded"]) == {charts["PCI ranking"], charts["PCI score by province"]}

    # PCI 2016 chosen: the table and the bars are the mart's ranking, in rank order
    expected = query(warehouse, "select rank, province_name, score_2dp::double, rank_label, rank_change from "
                                "marts.mart_pci_provincial_ranking where year = 2016 order by rank, province_name")
    year = [{"col": "year", "op": "==", "val": 2016}]
    rows = _chart_data(api, base, charts["PCI ranking"], year)
    assert [(r["rank"], r["province_name"], r["score_2dp"], r["rank_label"], r["rank_change"]) for r in rows] == \
        expected and len(rows) == 63 and rows[0]["province_name"] == "Đà Nẵng"
    bars = _chart_data(api, base, charts["PCI score by province"], year)
    scores = dict(query(warehouse, "select province_name, score from marts.mart_pci_provincial_ranking "
                                   "where year = 2016"))
    assert [b["province_name"] for b in bars][:3] == ["Đà Nẵng", "Quảng Ninh", "Đồng Tháp"]
    assert {b["province_name"]: round(b["PCI score"], 6) for b in bars} == \
        {name: round(score, 6) for name, score in scores.items()}
    # Quảng Ninh chosen: its four indices by year, as the province scorecard holds them
    lines = _chart_data(api, base, charts["A province's indices over time"],
                        [{"col": "province_name", "op": "==", "val": "Quảng Ninh"}])
    scorecard = query(warehouse, "select year, max(pci_score), max(papi_score), max(par_index_score), "
                                 "max(sipas_score) from marts.mart_province_scorecard "
                                 "where province_name = 'Quảng Ninh' group by year order by year")
    assert [(r["year"], r["PCI"], r["PAPI"], r["PAR INDEX"], r["SIPAS"]) for r in lines] == scorecard
    assert len(lines) >= 20


def test_the_dashboard_draws_in_chromium(superset):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from test_report import ARTIFACTS, CHROMIUM_ARGS, _chromium

    base, _, _, _ = superset
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "superset-dashboard.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base + "/login/", wait_until="networkidle")
            page.get_by_label("Username:").fill("admin")
            page.get_by_label("Password:").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/superset/welcome/**", timeout=60_000)
            page.goto(base + "/superset/dashboard/governance-rankings/", wait_until="networkidle")
            try:
                page.get_by_placeholder("63 records").wait_for(timeout=120_000)  # the table's search box, PCI 2020
                page.locator("canvas").nth(1).wait_for(timeout=120_000)  # the bar and the line chart (ECharts)
                # drawn, not only laid out: the share of painted pixels in each canvas
                try:
                    painted = page.wait_for_function(_PAINTED, polling=1000, timeout=120_000).json_value()
                except PlaywrightTimeout:
                    last = page.evaluate("() => window.__govwhShares")
                    raise AssertionError(f"the charts did not draw in 120 s; painted shares: {last}")
                try:  # and settled, for the screenshot (ECharts animates); never a failure on its own
                    page.wait_for_function(_SETTLED, polling=1000, timeout=20_000)
                except PlaywrightTimeout:
                    pass
                table = page.locator("table tbody tr").all_inner_texts()
            finally:
                page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert table[0].split()[:3] == ["1", "Quảng", "Ninh"]  # PCI 2020, the filter's default year
    assert len([share for share in painted if share > 0.01]) >= 2, painted


# The share of each canvas's pixels that are painted (alpha > 0), once at least two canvases (the bar
# chart and the line chart) have painted more than 1% of their area; null, keep waiting, until then.
# A size threshold on the screenshot PNG stood here before: it failed in CI (38,686 bytes against
# 50,000) on a dashboard caught mid-animation.
_PAINTED = """() => {
  const shares = [...document.querySelectorAll('canvas')].map(c => {
    const ctx = c.width && c.height ? c.getContext('2d') : null;
    if (!ctx) return 0;
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
    return painted / (c.width * c.height);
  });
  window.__govwhShares = shares;
  return shares.filter(share => share > 0.01).length >= 2 ? shares : null;
}"""

# True once no canvas changed since the last poll (ECharts grows bars and draws lines for a second
# or so): the screenshot then shows the finished charts.
_SETTLED = """() => {
  const picture = [...document.querySelectorAll('canvas')].map(c => c.toDataURL()).join('|');
  const settled = window.__govwhLastPicture === picture;
  window.__govwhLastPicture = picture;
  return settled;
}"""


def test_a_changed_reader_password_reaches_superset_at_the_next_import_and_a_bad_host_is_refused(superset, postgres):
    """The mirror sets bi_reader's password at every serving run; the next start (start.sh runs
    import_assets.py) must hand the new one to Superset, replacing the imported connection."""
    import psycopg
    from psycopg import sql

    base, _, _, env = superset
    api = _api(base)
    (dashboard,) = api.get(base + "/api/v1/dashboard/", timeout=30).json()["result"]
    chart = next(c["id"] for c in api.get(f"{base}/api/v1/dashboard/{dashboard['id']}/charts", timeout=30)
                 .json()["result"] if c["slice_name"] == "PCI ranking")
    rotated = "synthetic-rotated-reader-pw"
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(sql.SQL("alter role bi_reader password {}").format(sql.Literal(rotated)))
    chart_detail = api.get(f"{base}/api/v1/chart/{chart}", timeout=30).json()["result"]
    stale = api.post(base + "/api/v1/chart/data", json={**json.loads(chart_detail["query_context"]), "force": True},
                     timeout=120)
    assert not stale.ok  # Superset still holds the old password
    script = [str(Path(env["PATH"].split(":")[0]) / "python"), str(SUPERSET_DIR / "import_assets.py"),
              "--host", env["GOVWH_MIRROR_HOST"], "--port", env["GOVWH_MIRROR_PORT"], "--database", DATABASE]
    proc = subprocess.run(script, env={**env, "BI_READER_PASSWORD": rotated}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(_chart_data(_api(base), base, chart, [{"col": "year", "op": "==", "val": 2016}])) == 63
    # a host that would smuggle a YAML key into the connection is refused, in one line
    bad = subprocess.run([*script[:3], "evil\nallow_dml: true", *script[4:]],
                         env={**env, "BI_READER_PASSWORD": rotated}, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "import_assets: error: --host 'evil\\nallow_dml: true' is not a host name or an IP address"]
