#!/usr/bin/env bash
# Fuzzes the salon API against its own OpenAPI document with schemathesis: starts the
# platform (`control-plane dev`) on free ports with a throwaway database, signs in as the
# demo salon's owner, and fails on any 5xx or any response that breaks the document.
set -euo pipefail

repo_root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

venv=${INSTUDIO_SCHEMATHESIS_VENV:-${TMPDIR:-/tmp}/instudio-schemathesis-venv}
version=4.32.5
if [[ ! -x $venv/bin/schemathesis ]] || [[ $("$venv/bin/schemathesis" --version) != *"$version"* ]]; then
  echo "schemathesis: installing $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cp_port=$(free_port)
rt_port=$(free_port)
db="instudio_schemathesis_$$"
admin=${INSTUDIO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
state=$(mktemp -d)
log="$state/dev.log"

cargo build --locked --quiet -p control-plane
bin="${CARGO_TARGET_DIR:-target}/debug/control-plane"

cleanup() {
  [[ -n ${dev_pid:-} ]] && kill "$dev_pid" 2>/dev/null && wait "$dev_pid" 2>/dev/null
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT

DATABASE_URL="${admin%/*}/$db" INSTUDIO_STATE_DIR="$state" BOOKING_LINK_SECRET=schemathesis-link-secret-0123456789abcdef \
  "$bin" dev --control-plane-port "$cp_port" --runtime-port "$rt_port" >"$log" 2>&1 &
dev_pid=$!

for _ in $(seq 1 120); do
  grep -q "export TOKEN=" "$log" && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
token=$(sed -n 's/.*export TOKEN=\([^ ]*\).*/\1/p' "$log" | head -n1)
[[ -n $token ]] || { echo "schemathesis: dev did not print a token" >&2; cat "$log" >&2; exit 1; }

base="http://127.0.0.1:$rt_port"
curl -fsS -H 'Host: demo.localhost' "$base/api/v1/openapi.json" -o "$state/openapi.json"

"$venv/bin/schemathesis" run "$state/openapi.json" \
  --url "$base" \
  -H 'Host: demo.localhost' \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" \
  --seed 20261121 \
  --request-timeout 10 \
  --rate-limit 1800/m \
  --workers 2 \
  --no-color
