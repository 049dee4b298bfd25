#!/usr/bin/env bash
# Runs the workspace tests against local services: brings PostgreSQL (:5432) and PgBouncer
# (:6432) up with scripts/services.sh, points the tests at them, then runs cargo test.
# Extra arguments go to cargo test, e.g. scripts/test.sh -p tests -- --nocapture
# Works from any directory.
set -euo pipefail

repo_root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

bash scripts/services.sh

# The tests create their own databases through the first URL and reach them through
# PgBouncer with the second one. Both can be overridden to use other servers.
export INSTUDIO_TEST_DATABASE_URL=${INSTUDIO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export INSTUDIO_TEST_PGBOUNCER_URL=${INSTUDIO_TEST_PGBOUNCER_URL:-postgres://postgres@127.0.0.1:6432/postgres}
# localstripe (a fake Stripe API) for the billing tests: installed once into a virtualenv.
export INSTUDIO_LOCALSTRIPE=${INSTUDIO_LOCALSTRIPE:-$(bash scripts/localstripe.sh --install-only)}

exec cargo test --workspace --locked "$@"
