#!/usr/bin/env bash
# Starts the machine's PostgreSQL cluster (installing it is setup.sh's job) and makes a
# test database. Prints the SQLAlchemy URL on stdout.
set -euo pipefail
if [ -n "${LABORSIGN_TEST_PG_URL:-}" ]; then echo "$LABORSIGN_TEST_PG_URL"; exit 0; fi
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >/dev/null 2>&1
fi
pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true
port=$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')
for _ in $(seq 1 30); do
  as_postgres psql -p "$port" -Atqc "SELECT 1" >/dev/null 2>&1 && break
  sleep 1
done
as_postgres psql -p "$port" -qc "DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'laborsign') THEN
    CREATE ROLE laborsign LOGIN PASSWORD 'laborsign' CREATEDB;
  END IF; END\$\$;" >/dev/null
if ! as_postgres psql -p "$port" -Atqc "SELECT 1 FROM pg_database WHERE datname='laborsign_test'" | grep -q 1; then
  as_postgres createdb -p "$port" -O laborsign laborsign_test
fi
echo "postgresql+asyncpg://laborsign:laborsign@127.0.0.1:$port/laborsign_test"
