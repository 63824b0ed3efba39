#!/usr/bin/env bash
# The `bi` profile's Superset (docker compose --profile bi up), and what the Superset test runs as
# local processes: refuse placeholder secrets, migrate Superset's own database, create the admin
# login (its password set again from SUPERSET_ADMIN_PASSWORD), import the governance dashboard (database connection to the
# PostgreSQL mirror as bi_reader, datasets, charts), then serve on SUPERSET_BIND. Every step is
# idempotent, so it runs at every start; a re-import replaces the assets of the same ids.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export FLASK_APP=superset SUPERSET_CONFIG_PATH="${SUPERSET_CONFIG_PATH:-$here/superset_config.py}"
python "$here/../check_secrets.py" SUPERSET_SECRET_KEY SUPERSET_ADMIN_PASSWORD BI_READER_PASSWORD
echo "[superset] migrating Superset's own database"
superset db upgrade >/dev/null 2>&1 || { superset db upgrade; exit 1; }
# create-admin keeps an existing admin (and says so); reset-password applies a changed SUPERSET_ADMIN_PASSWORD
superset fab create-admin --username admin --firstname Superset --lastname Admin --email admin@localhost \
  --password "$SUPERSET_ADMIN_PASSWORD" >/dev/null 2>&1
superset fab reset-password --username admin --password "$SUPERSET_ADMIN_PASSWORD" >/dev/null 2>&1
echo "[superset] roles and permissions"
superset init >/dev/null 2>&1 || { superset init; exit 1; }
python "$here/import_assets.py" --host "${GOVWH_MIRROR_HOST:-postgres}" --port "${GOVWH_MIRROR_PORT:-5432}" \
  --database "${GOVWH_MIRROR_DATABASE:-governance}"
echo "[superset] serving on ${SUPERSET_BIND:-0.0.0.0:8088} (login admin / \$SUPERSET_ADMIN_PASSWORD)"
exec gunicorn --workers "${SUPERSET_WORKERS:-2}" --threads 4 --timeout 120 --bind "${SUPERSET_BIND:-0.0.0.0:8088}" \
  "superset.app:create_app()"
