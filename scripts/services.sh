#!/usr/bin/env bash
# Makes sure the services the integration tests need are up, installing what is missing:
#
#   * PostgreSQL on 127.0.0.1:5432, user `postgres`, trust auth over TCP;
#   * PgBouncer on 127.0.0.1:6432 in transaction pooling mode, with a wildcard database
#     entry so that any database created on PostgreSQL (each test creates its own) can be
#     reached through it without touching the config.
#
# Idempotent: when everything is already up it changes nothing and says so. Safe to run
# concurrently (a lock serialises runs). Installing or starting things needs root
# (apt-get, runuser); when everything is already up any user can run it.
#
# Environment:
#   INSTUDIO_PGBOUNCER_DIR   PgBouncer state dir: config, log, pid, socket
#                            (default /tmp/instudio-pgbouncer)
#   INSTUDIO_PG_PORT         PostgreSQL port (default 5432)
#   INSTUDIO_PGBOUNCER_PORT  PgBouncer port (default 6432)
set -euo pipefail

HOST=127.0.0.1
PG_PORT=${INSTUDIO_PG_PORT:-5432}
PGB_PORT=${INSTUDIO_PGBOUNCER_PORT:-6432}
PGB_DIR=${INSTUDIO_PGBOUNCER_DIR:-/tmp/instudio-pgbouncer}
# PgBouncer chdirs to / when it daemonizes, so every path in its config must be absolute.
[[ $PGB_DIR == /* ]] || PGB_DIR="$PWD/$PGB_DIR"
PGB_DIR=${PGB_DIR%/}
PGB_INI="$PGB_DIR/pgbouncer.ini"
PGB_USERLIST="$PGB_DIR/userlist.txt"
PGB_PIDFILE="$PGB_DIR/pgbouncer.pid"
PGB_LOG="$PGB_DIR/pgbouncer.log"

# PG* variables from the caller's environment must not redirect our probes elsewhere.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGSSLMODE

log() { printf 'services: %s\n' "$*" >&2; }
die() {
  printf 'services: ERROR: %s\n' "$*" >&2
  exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

APT_UPDATED=0
apt_install() {
  is_root || die "need to install $* but not running as root; run: sudo apt-get install -y $*"
  command -v apt-get >/dev/null || die "need to install $* but apt-get is not available"
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    apt-get update -qq >&2 9<&- || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 9<&- || die "apt-get install $* failed"
}

# psql wrapper: no psqlrc, never prompt for a password, quiet, unaligned, stop on error.
psql_at() {
  local port=$1 db=$2
  shift 2
  psql -X -w -q -A -t -v ON_ERROR_STOP=1 -h "$HOST" -p "$port" -U postgres -d "$db" "$@"
}

answers() { pg_isready -q -h "$HOST" -p "$1" -U postgres -d postgres -t 2 >/dev/null 2>&1; }

wait_until_answers() {
  local port=$1 seconds=$2 i
  for ((i = 0; i < seconds; i++)); do
    answers "$port" && return 0
    sleep 1
  done
  answers "$port"
}

# Serialise concurrent runs (e.g. two test runs starting at once would both try to start
# PgBouncer). The lock lives next to the state dir; a run blocks for at most 2 minutes.
# The lock is opened read-only once it exists: in sticky /tmp, opening another user's file
# with O_CREAT can be refused (fs.protected_regular), and flock works on any fd.
LOCK="$PGB_DIR.lock"
mkdir -p "$(dirname "$PGB_DIR")"
if command -v flock >/dev/null; then
  [[ -e $LOCK ]] || { : >>"$LOCK" && chmod 644 "$LOCK"; } 2>/dev/null || true
  # fd 9 must not leak into daemons started below (they would hold the lock forever):
  # everything that may start one runs with 9<&-.
  exec 9<"$LOCK" || die "cannot open lock file $LOCK"
  flock -w 120 9 || die "timed out waiting for another services.sh run (lock $LOCK)"
fi

# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------

pg_server_installed() {
  command -v pg_ctlcluster >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# Prints "<version> <name> <status> <logfile>" of the cluster configured for $PG_PORT.
pg_cluster_on_port() {
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port { print $1, $2, $4, $7; exit }'
}

# Only for a cluster this script just created/installed: trust local TCP connections so
# that the tests (and PgBouncer) can connect as postgres without a password.
pg_trust_local_tcp() {
  local hba="/etc/postgresql/$1/$2/pg_hba.conf"
  [[ -f $hba ]] || die "pg_hba.conf not found at $hba"
  sed -E -i 's#^([[:space:]]*host[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+(127\.0\.0\.1/32|::1/128)[[:space:]]+)[^[:space:]].*$#\1trust#' "$hba"
  grep -Eq '^[[:space:]]*host[[:space:]].*127\.0\.0\.1/32[[:space:]]+trust' "$hba" ||
    printf 'host all postgres 127.0.0.1/32 trust\n' >>"$hba"
  grep -Eq '^[[:space:]]*host[[:space:]].*::1/128[[:space:]]+trust' "$hba" ||
    printf 'host all postgres ::1/128 trust\n' >>"$hba"
  log "set local TCP auth to trust in $hba"
}

ensure_postgres() {
  # The probes need the client tools even when the server runs elsewhere (e.g. a container).
  if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
    apt_install postgresql-client
  fi
  if answers "$PG_PORT"; then
    PG_STATUS="already running on $HOST:$PG_PORT"
    return
  fi

  local fresh=0 action="started"
  if ! pg_server_installed; then
    apt_install postgresql
    fresh=1
    action="installed and started"
  fi

  local cluster ver name status logfile
  cluster=$(pg_cluster_on_port)
  if [[ -z $cluster ]]; then
    is_root || die "no PostgreSQL cluster is configured for port $PG_PORT and not root to create one"
    ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
    name=main
    [[ -d /etc/postgresql/$ver/$name ]] && name=instudio
    log "creating cluster $ver/$name on port $PG_PORT"
    pg_createcluster "$ver" "$name" -p "$PG_PORT" >&2 9<&- || die "pg_createcluster $ver $name failed"
    fresh=1
    [[ $action == started ]] && action="created and started"
    cluster=$(pg_cluster_on_port)
  fi
  read -r ver name status logfile <<<"$cluster"

  [[ $fresh -eq 1 ]] && pg_trust_local_tcp "$ver" "$name"

  if [[ $status == online* ]]; then
    # Started already (e.g. by the package's postinst): pick up the pg_hba.conf change.
    if [[ $fresh -eq 1 ]]; then
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >&2 9<&- ||
        die "could not reload cluster $ver/$name"
    fi
    [[ $fresh -eq 1 ]] || action="was starting up"
  else
    is_root || [[ $(id -un) == postgres ]] ||
      die "PostgreSQL cluster $ver/$name is down and starting it needs root (or user postgres)"
    log "starting cluster $ver/$name"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 9<&- ||
      log "pg_ctlcluster start returned non-zero; waiting anyway"
  fi

  if ! wait_until_answers "$PG_PORT" 30; then
    [[ -n ${logfile:-} && -r $logfile ]] && tail -n 20 "$logfile" >&2
    die "PostgreSQL (cluster $ver/$name) is not answering on $HOST:$PG_PORT after 30s"
  fi
  PG_STATUS="$action on $HOST:$PG_PORT (cluster $ver/$name)"
}

# ---------------------------------------------------------------------------------------
# PgBouncer
# ---------------------------------------------------------------------------------------

pgbouncer_config() {
  cat <<EOF
;; Generated by scripts/services.sh; rewritten whenever it differs, edit the script instead.
[databases]
;; Wildcard fallback: a pool is created on demand for any database name, so databases the
;; tests create on the fly are reachable without a reload.
* = host=$HOST port=$PG_PORT

[pgbouncer]
listen_addr = $HOST
listen_port = $PGB_PORT
unix_socket_dir = $PGB_DIR
auth_type = trust
auth_file = $PGB_USERLIST
;; Lets user postgres use the admin console: psql -h $HOST -p $PGB_PORT -U postgres pgbouncer
admin_users = postgres
pool_mode = transaction
;; sqlx sends extra_float_digits in its startup packet, which PgBouncer rejects unless it
;; is listed here. application_name is tracked natively (it is passed through to the
;; server), so it does not belong here. Anything in "options" is dropped, not forwarded.
ignore_startup_parameters = extra_float_digits,options
max_client_conn = 1000
default_pool_size = 20
max_db_connections = 0
;; Transaction pooling: there is no session state to reset between clients.
server_reset_query =
logfile = $PGB_LOG
pidfile = $PGB_PIDFILE
EOF
}

# Writes $2 into file $1 only if the content differs; returns 0 if it wrote.
write_if_changed() {
  local file=$1 content=$2
  if [[ -f $file ]] && [[ "$(cat "$file")" == "$content" ]]; then
    return 1
  fi
  {
    printf '%s\n' "$content" >"$file.tmp" &&
      { ! is_root || chown postgres:postgres "$file.tmp"; } &&
      chmod 644 "$file.tmp" &&
      mv -f "$file.tmp" "$file"
  } 2>/dev/null || die "cannot write $file (run as root, or as the owner of $PGB_DIR)"
}

# Prints the pid of the PgBouncer started from our state dir, if it is alive.
our_pgbouncer_pid() {
  local pid state
  [[ -r $PGB_PIDFILE ]] || return 0
  pid=$(tr -dc '0-9' <"$PGB_PIDFILE")
  [[ -n $pid && -r /proc/$pid/stat ]] || return 0
  # A reaped-by-nobody zombie still passes `kill -0`; look at the process state instead.
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 0
  [[ $state != Z && $(cat "/proc/$pid/comm" 2>/dev/null) == pgbouncer ]] && echo "$pid"
  return 0
}

stop_pgbouncer() {
  local pid=$1 i
  log "stopping pgbouncer (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    [[ -z $(our_pgbouncer_pid) ]] && return 0
    sleep 0.5
  done
  die "pgbouncer (pid $pid) did not stop"
}

start_pgbouncer() {
  local bin=$1
  rm -f "$PGB_PIDFILE" # stale (checked by the caller)
  log "starting pgbouncer on $HOST:$PGB_PORT"
  # PgBouncer refuses to run as root, so root starts it as postgres. Each client and each
  # server connection costs a file descriptor, so raise the soft limit to the hard one
  # (max_client_conn = 1000 is over the usual 1024). This must happen after runuser:
  # its PAM session (pam_limits) resets the limits to init's.
  # shellcheck disable=SC2016 # expanded by the inner shell
  local launch='ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 4096 2>/dev/null; exec "$0" -d "$1"'
  local cmd=(/bin/sh -c "$launch" "$bin" "$PGB_INI")
  is_root && cmd=(runuser -u postgres -- "${cmd[@]}")
  "${cmd[@]}" 9<&- || {
    tail -n 20 "$PGB_LOG" >&2 2>/dev/null || true
    die "pgbouncer failed to start (log: $PGB_LOG)"
  }
  if ! wait_until_answers "$PGB_PORT" 15; then
    tail -n 20 "$PGB_LOG" >&2 2>/dev/null || true
    die "pgbouncer is not answering on $HOST:$PGB_PORT after 15s (log: $PGB_LOG)"
  fi
}

# Checks what the tests rely on: plain queries, and a database created after PgBouncer
# started being reachable through the wildcard entry.
PROBE_DB="pgb_probe_$$"
drop_probe_db() {
  psql_at "$PG_PORT" postgres -c "DROP DATABASE IF EXISTS $PROBE_DB WITH (FORCE)" >/dev/null 2>&1 || true
}
probe_pgbouncer() {
  local out db=$PROBE_DB
  out=$(psql_at "$PGB_PORT" postgres -c 'select 1' 2>&1) || out="failed: $out"
  [[ $out == 1 ]] || die "'select 1' through pgbouncer on $HOST:$PGB_PORT: $out"

  # Drop the probe database whatever happens from here on. FORCE, because PgBouncer keeps
  # the server connection it opened to it.
  trap drop_probe_db EXIT
  psql_at "$PG_PORT" postgres -c "CREATE DATABASE $db" >/dev/null ||
    die "could not create probe database $db on $HOST:$PG_PORT"
  out=$(psql_at "$PGB_PORT" "$db" -c 'select current_database()' 2>&1) || out="failed: $out"
  [[ $out == "$db" ]] || die "fresh database $db is not reachable through pgbouncer: $out"
  out=$(psql_at "$PG_PORT" postgres -c "DROP DATABASE $db WITH (FORCE)" 2>&1) ||
    die "could not drop probe database $db: $out"
  trap - EXIT
}

ensure_pgbouncer() {
  local bin action
  bin=$(command -v pgbouncer || true)
  [[ -z $bin && -x /usr/sbin/pgbouncer ]] && bin=/usr/sbin/pgbouncer # /usr/sbin off PATH
  if [[ -z $bin ]]; then
    apt_install pgbouncer
    bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    # Where the package's init script was allowed to start the distro instance, it holds
    # our port with a config we cannot use; stop it (a no-op in containers).
    if command -v systemctl >/dev/null && systemctl is-active --quiet pgbouncer 2>/dev/null; then
      systemctl disable --now pgbouncer >&2 9<&- || true
    elif [[ -x /etc/init.d/pgbouncer ]]; then
      /etc/init.d/pgbouncer stop >/dev/null 2>&1 || true
    fi
    action="installed and started"
  fi

  # State dir: owned by postgres, the user PgBouncer runs as. World-readable (there are no
  # secrets in it) so that any user can run this script to check on the services.
  mkdir -p "$PGB_DIR"
  if is_root; then
    [[ $(stat -c %U "$PGB_DIR") == postgres ]] || chown postgres:postgres "$PGB_DIR"
    chmod 755 "$PGB_DIR"
    runuser -u postgres -- test -w "$PGB_DIR" ||
      die "user postgres cannot write to $PGB_DIR (is a parent directory private?)"
  fi

  local changed=0
  write_if_changed "$PGB_USERLIST" '"postgres" ""' && changed=1
  write_if_changed "$PGB_INI" "$(pgbouncer_config)" && changed=1

  local pid
  pid=$(our_pgbouncer_pid)
  if [[ -n $pid ]] && [[ $changed -eq 1 ]]; then
    # A restart rather than RELOAD: listen address/socket changes need one.
    stop_pgbouncer "$pid"
    start_pgbouncer "$bin"
    action="restarted with new config"
  elif [[ -n $pid ]] && answers "$PGB_PORT"; then
    action="already running on $HOST:$PGB_PORT (pid $pid)"
  elif [[ -n $pid ]]; then
    log "pgbouncer (pid $pid) is not answering; restarting it"
    stop_pgbouncer "$pid"
    start_pgbouncer "$bin"
    action="restarted (was not answering)"
  elif answers "$PGB_PORT"; then
    ss -ltnp "sport = :$PGB_PORT" >&2 2>/dev/null || true
    die "something else is listening on $HOST:$PGB_PORT (not the pgbouncer from $PGB_DIR); stop it or set INSTUDIO_PGBOUNCER_PORT"
  else
    start_pgbouncer "$bin"
    action=${action:-started}
  fi
  [[ $action == *"on $HOST"* ]] || action="$action on $HOST:$PGB_PORT (pid $(our_pgbouncer_pid))"

  probe_pgbouncer
  PGB_STATUS="$action, transaction pooling; select 1 and fresh-database probe ok (config $PGB_INI)"
}

# pg_isready is satisfied by any answer, even an authentication failure: log in for real.
check_postgres_login() {
  local out
  out=$(psql_at "$PG_PORT" postgres -c 'select 1' 2>&1) || out="failed: $out"
  [[ $out == 1 ]] || die "PostgreSQL on $HOST:$PG_PORT answers, but 'select 1' as user postgres without a password: $out
  (the tests need trust auth for local TCP: set the 'host ... 127.0.0.1/32' and '::1/128' lines of pg_hba.conf to 'trust' and reload)"
}

ensure_postgres
check_postgres_login
echo "postgresql: $PG_STATUS"
ensure_pgbouncer
echo "pgbouncer: $PGB_STATUS"
