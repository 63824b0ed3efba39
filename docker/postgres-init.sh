#!/bin/bash
# Runs once when the compose PostgreSQL starts on an empty volume: the database the marts are
# mirrored into, and a login for BI tools with its password from the environment (.env), its
# search_path on the marts and a statement timeout. Each mirror grants it read-only access.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$BI_READER_PASSWORD" <<'SQL'
CREATE DATABASE governance OWNER airflow;
CREATE ROLE bi_reader LOGIN PASSWORD :'pw';
ALTER ROLE bi_reader SET search_path = marts, public;
ALTER ROLE bi_reader SET statement_timeout = '120s';
SQL
