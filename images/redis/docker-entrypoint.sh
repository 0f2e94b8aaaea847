#!/bin/sh
# The official redis image's contract: `-x ...` or `x.conf ...` runs
# `redis-server <args>`; as root it drops to redis (999); anything else runs
# as given (`redis-cli ...`, `/bin/sh /opt/redis/scripts/start.sh`).
set -e
case "${1:-}" in
  -*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$(id -u)" = 0 ] && { [ "$1" = redis-server ] || [ "$1" = valkey-server ]; }; then
  chown -R redis:redis /data 2>/dev/null || true
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
exec "$@"
