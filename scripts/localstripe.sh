#!/usr/bin/env bash
# Installs localstripe (PyPI, a stateful fake of the Stripe API) into a virtualenv under
# .instudio/localstripe-venv and starts it on loopback, unless one already answers.
# Prints the base URL (export it as STRIPE_API_BASE). Idempotent.
#
# It runs through scripts/localstripe_shim.py, which adds what localstripe lacks and
# InStudio relies on: Stripe's idempotency keys and the `charge.refunded` event.
#
#   scripts/localstripe.sh            # install if needed, start if needed, print the URL
#   LOCALSTRIPE_PORT=8420 scripts/localstripe.sh
#   scripts/localstripe.sh --install-only   # only install; print the launcher to run
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
state="${INSTUDIO_STATE_DIR:-$root/.instudio}"
venv="$state/localstripe-venv"
port="${LOCALSTRIPE_PORT:-8420}"
url="http://127.0.0.1:$port"

answers() { curl -fsS -o /dev/null -u sk_test_probe: "$url/v1/customers" 2>/dev/null; }

install() {
  mkdir -p "$state"
  # Test binaries run in parallel: one installs, the others wait for it.
  exec 9>"$state/localstripe.lock"
  flock 9
  if [ ! -x "$venv/bin/localstripe" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "localstripe==${LOCALSTRIPE_VERSION:-1.15.10}" >&2
  fi
  # The launcher: localstripe's server with the shim's additions.
  cat >"$venv/bin/instudio-localstripe" <<LAUNCHER
#!/bin/sh
exec "$venv/bin/python" "$root/scripts/localstripe_shim.py" "\$@"
LAUNCHER
  chmod +x "$venv/bin/instudio-localstripe"
  flock -u 9
}

if [ "${1:-}" = "--install-only" ]; then
  install
  echo "$venv/bin/instudio-localstripe"
  exit 0
fi

if answers; then
  echo "$url"
  exit 0
fi

install

nohup "$venv/bin/instudio-localstripe" --port "$port" >"$state/localstripe.log" 2>&1 &
echo $! >"$state/localstripe.pid"
for _ in $(seq 1 100); do
  if answers; then
    echo "$url"
    exit 0
  fi
  sleep 0.1
done
echo "localstripe did not start on $url; see $state/localstripe.log" >&2
exit 1
