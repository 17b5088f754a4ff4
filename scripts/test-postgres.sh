#!/usr/bin/env bash
# Make a local PostgreSQL 15 server available for the test suite and print its admin URL.
# Installs the Debian package when absent (root only), starts the cluster, and creates a
# login role that may create databases (each test gets a fresh database of its own), and a
# superuser role beside it (<role>_super) for the few tests that need one.
# Diagnostics go to stderr; stdout carries only the URL.
set -euo pipefail

ROLE=cgw_test
PASSWORD=cgw_test
PORT=5432

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /usr/lib/postgresql/15 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL 15 is not installed and this user cannot install it; install 'postgresql'" >&2
    exit 1
  fi
  echo "installing PostgreSQL (apt-get)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

if ! pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main"' | grep -q .; then
  pg_createcluster 15 main >&2
fi
if ! pg_lsclusters -h | awk '$1=="15" && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster 15 main start >&2
fi

for _ in $(seq 1 30); do
  if su postgres -c "psql -p $PORT -tAc 'SELECT 1'" >/dev/null 2>&1; then break; fi
  sleep 0.5
done

su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -q" >&2 <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
  -- a superuser, for the tests of what only a superuser may install (the DDL event triggers)
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${ROLE}_super') THEN
    CREATE ROLE ${ROLE}_super LOGIN SUPERUSER PASSWORD '${PASSWORD}_super';
  END IF;
END
\$\$;
SQL

echo "postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/postgres"
