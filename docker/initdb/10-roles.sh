#!/bin/sh
# Runs once, as the superuser, when the database volume is created: the runtime role
# (no superuser, no BYPASSRLS, owns nothing), pgvector, and iterative HNSW scans.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE app_runtime LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
  PASSWORD '${RUNTIME_DB_PASSWORD}';
ALTER ROLE app_runtime SET hnsw.iterative_scan = 'relaxed_order';
CREATE EXTENSION IF NOT EXISTS vector;
SQL
