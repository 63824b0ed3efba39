#!/bin/bash
# Runs once when the compose PostgreSQL starts on an empty volume: the database the marts are
# mirrored into, and a login for BI tools with its password from the environment (.env), its
# search_path on the marts and a statement timeout. Each mirror grants it read-only access; the
# init container sets its password again at every start (govwh mirror --reader-only).
# No login but the owners may connect to the server's other databases: CONNECT is revoked from
# PUBLIC on them and granted on the warehouse's database only.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$BI_READER_PASSWORD" \
     -v db="${GOVWH_PG_DATABASE:-governance}" -v reader="${GOVWH_PG_READER:-bi_reader}" \
     -v owner="$POSTGRES_USER" -v home="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db" OWNER :"owner";
CREATE ROLE :"reader" LOGIN PASSWORD :'pw';
ALTER ROLE :"reader" SET search_path = marts, public;
ALTER ROLE :"reader" SET statement_timeout = '120s';
REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC;
REVOKE CONNECT ON DATABASE :"home" FROM PUBLIC;
REVOKE CONNECT ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"reader";
SQL
