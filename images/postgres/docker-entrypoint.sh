#!/usr/bin/env bash
# The official postgres image's entrypoint contract, for Debian's packages:
#   - args starting with `-` run `postgres <args>` (charts pass `-c k=v ...`),
#   - on an empty $PGDATA: initdb --username=$POSTGRES_USER with
#     $POSTGRES_PASSWORD (or *_FILE), $POSTGRES_INITDB_ARGS, a pg_hba line
#     for every host with $POSTGRES_HOST_AUTH_METHOD (default scram-sha-256),
#     CREATE DATABASE $POSTGRES_DB, /docker-entrypoint-initdb.d/*.{sh,sql,sql.gz},
#   - then exec postgres; a non-empty $PGDATA is started as it is.
# Runs as any uid: as root it drops to postgres (999); an uid with no passwd
# entry (e.g. 70, the Alpine image's) gets one through nss_wrapper for initdb.
set -Eeo pipefail

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) vitals-postgres: $*" >&2; }
die() { log "error: $*"; exit 1; }

# file_env VAR [DEFAULT]: VAR or the content of the file named by VAR_FILE.
file_env() {
  local var=$1 fvar="${1}_FILE" def=${2:-} val
  if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then die "both $var and $fvar are set"; fi
  val=$def
  if [ -n "${!var:-}" ]; then val=${!var}; elif [ -n "${!fvar:-}" ]; then val=$(<"${!fvar}"); fi
  export "$var"="$val"; unset "$fvar"
}

if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi

export PGDATA=${PGDATA:-/var/lib/postgresql/data}

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql 2>/dev/null || true
  chmod 700 "$PGDATA" || true
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

# An empty volume mounted at PGDATA's parent: create PGDATA (fsGroup makes
# the volume group-writable) and make it private, as postgres requires.
mkdir -p "$PGDATA" 2>/dev/null || die "cannot create PGDATA=$PGDATA as uid $(id -u) (is the volume writable? set fsGroup)"
chmod 700 "$PGDATA" 2>/dev/null || true

nss_wrap() {
  if ! getent passwd "$(id -u)" >/dev/null; then
    local tmp=${TMPDIR:-/tmp}
    NSS_WRAPPER_PASSWD=$(mktemp "$tmp/nss_passwd.XXXXXX") || die "no writable $tmp for nss_wrapper"
    NSS_WRAPPER_GROUP=$(mktemp "$tmp/nss_group.XXXXXX")
    cat /etc/passwd >"$NSS_WRAPPER_PASSWD"
    echo "postgres:x:$(id -u):$(id -g):PostgreSQL:$PGDATA:/bin/false" >>"$NSS_WRAPPER_PASSWD"
    cat /etc/group >"$NSS_WRAPPER_GROUP"
    getent group "$(id -g)" >/dev/null || echo "postgres:x:$(id -g):" >>"$NSS_WRAPPER_GROUP"
    export LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  fi
}
nss_unwrap() {
  if [ -n "${NSS_WRAPPER_PASSWD:-}" ]; then
    rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
    unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  fi
}

psql_run() { psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"; }

init_db() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  local auth=${POSTGRES_HOST_AUTH_METHOD:-}
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
    die "PGDATA is empty and no superuser password is set: set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), or POSTGRES_HOST_AUTH_METHOD=trust"
  fi
  [ -n "$auth" ] || auth=scram-sha-256
  log "initialising $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB, uid $(id -u))"
  nss_wrap
  local pwfile
  pwfile=$(mktemp "${TMPDIR:-/tmp}/pgpw.XXXXXX") || die "no writable ${TMPDIR:-/tmp}"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" $POSTGRES_INITDB_ARGS >&2
  rm -f "$pwfile"
  printf '\n# vitals-postgres: every host, %s\nhost all all all %s\n' "$auth" "$auth" >>"$PGDATA/pg_hba.conf"
  # A private server on the unix socket only, for the setup below.
  PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start >&2
  export PGPASSWORD=$POSTGRES_PASSWORD
  if [ "$POSTGRES_DB" != postgres ]; then
    local exists
    exists=$(psql_run --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
    if [ -z "${exists// /}" ]; then
      psql_run --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >&2
    fi
  fi
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh) log "running $f"; . "$f" ;;
      *.sql) log "running $f"; psql_run --dbname "$POSTGRES_DB" -f "$f" >&2 ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | psql_run --dbname "$POSTGRES_DB" >&2 ;;
      *) ;;
    esac
  done
  unset PGPASSWORD
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  nss_unwrap
  log "init done"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  init_db
else
  log "PGDATA $PGDATA holds a database (PG_VERSION $(cat "$PGDATA/PG_VERSION")); starting it"
fi
# postgres itself needs no passwd entry, but keep one for an unknown uid
# (extensions and libpq fallbacks call getpwuid) when /tmp is writable.
if [ -w "${TMPDIR:-/tmp}" ]; then nss_wrap; fi
exec "$@"
