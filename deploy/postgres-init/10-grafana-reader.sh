#!/bin/sh
# Runs once, when the postgres service initialises its data volume (docker-entrypoint-initdb.d):
# creates the plant schema owned by the application role, and a read-only role for Grafana
# whose search_path is that schema (so dashboards' SQL names tables without a schema), with
# SELECT on every table the migrations create later.
set -eu
psql -v ON_ERROR_STOP=1 \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=owner="$POSTGRES_USER" --set=schema="${DB_SCHEMA:-flet_montrg}" \
  --set=dbname="$POSTGRES_DB" --set=reader_password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"owner";
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
GRANT CONNECT ON DATABASE :"dbname" TO grafana_reader;
GRANT USAGE ON SCHEMA :"schema" TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema" GRANT SELECT ON TABLES TO grafana_reader;
ALTER ROLE grafana_reader SET search_path = :"schema";
ALTER ROLE grafana_reader SET statement_timeout = '30s';
SQL
