#!/usr/bin/env bash
# The `bi` profile's Superset (docker compose --profile bi up), and what the Superset test runs as
# local processes: refuse placeholder secrets, migrate Superset's own database, set up its roles,
# create the admin login (or set its password again), import the governance dashboard (database
# connection to the PostgreSQL mirror as bi_reader, datasets, charts; an earlier import of the same
# ids is replaced), then serve on SUPERSET_BIND. Every step is idempotent, so it runs at every start.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export FLASK_APP=superset SUPERSET_CONFIG_PATH="${SUPERSET_CONFIG_PATH:-$here/superset_config.py}"
home="${SUPERSET_HOME:-$HOME/.superset}"
mkdir -p "$home"
python "$here/../check_secrets.py" SUPERSET_SECRET_KEY SUPERSET_ADMIN_PASSWORD BI_READER_PASSWORD

step() {  # step NAME COMMAND...: its output in $home/NAME.log; on failure one line naming the log
  local name="$1"; shift
  if ! "$@" >"$home/$name.log" 2>&1; then
    echo "[superset] error: $name failed: $(grep -v '^\s*$' "$home/$name.log" | tail -n 1 | cut -c1-300) (log: $home/$name.log)" >&2
    exit 1
  fi
}
echo "[superset] migrating Superset's own database"
step db-upgrade superset db upgrade
echo "[superset] roles and permissions"
step init superset init
python "$here/set_admin.py"
# a failed import keeps the dashboard of the last good import: say so and serve that one
python "$here/import_assets.py" --host "${GOVWH_MIRROR_HOST:-postgres}" --port "${GOVWH_MIRROR_PORT:-5432}" \
  --database "${GOVWH_MIRROR_DATABASE:-governance}" \
  || echo "[superset] warning: the dashboard was not imported again (the error above); serving the last import" >&2
echo "[superset] serving on ${SUPERSET_BIND:-0.0.0.0:8088} (login admin / \$SUPERSET_ADMIN_PASSWORD)"
exec gunicorn --workers "${SUPERSET_WORKERS:-2}" --threads 4 --timeout 120 --bind "${SUPERSET_BIND:-0.0.0.0:8088}" \
  "superset.app:create_app()"
