#!/bin/sh
# Maps the official rabbitmq image's env onto Debian's rabbitmq-server:
#   RABBITMQ_ERLANG_COOKIE -> $HOME/.erlang.cookie (0400; the CLI tools read it too)
#   RABBITMQ_DEFAULT_USER/PASS/VHOST -> a generated rabbitmq.conf in
#   $RABBITMQ_GENERATED_CONF_DIR (default /tmp/rabbitmq; the root fs may be
#   read-only), which also keeps the listeners on 5672/15672/15692.
# An existing $RABBITMQ_CONFIG_FILE (e.g. a mounted ConfigMap) wins.
set -e
if [ "${1:-}" != rabbitmq-server ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq 2>/dev/null || true
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
fi
export HOME=${HOME:-/var/lib/rabbitmq}
if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
  cookie="$HOME/.erlang.cookie"
  if [ ! -f "$cookie" ] || [ "$(cat "$cookie")" != "$RABBITMQ_ERLANG_COOKIE" ]; then
    [ -f "$cookie" ] && chmod 0600 "$cookie"
    printf '%s' "$RABBITMQ_ERLANG_COOKIE" > "$cookie"
  fi
  chmod 0400 "$cookie"
fi
if [ -z "${RABBITMQ_CONFIG_FILE:-}" ]; then
  dir=${RABBITMQ_GENERATED_CONF_DIR:-/tmp/rabbitmq}
  mkdir -p "$dir"
  conf="$dir/rabbitmq.conf"
  {
    echo "listeners.tcp.default = ${RABBITMQ_NODE_PORT:-5672}"
    echo "management.tcp.port = 15672"
    echo "prometheus.tcp.port = 15692"
    echo "loopback_users.guest = false"
    [ -n "${RABBITMQ_DEFAULT_USER:-}" ] && echo "default_user = $RABBITMQ_DEFAULT_USER"
    [ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && echo "default_pass = $RABBITMQ_DEFAULT_PASS"
    [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ] && echo "default_vhost = $RABBITMQ_DEFAULT_VHOST"
    true
  } > "$conf"
  export RABBITMQ_CONFIG_FILE="$conf"
fi
# RABBITMQ_NODE_PORT and the conf's listener must not both be set.
unset RABBITMQ_NODE_PORT
exec "$@"
