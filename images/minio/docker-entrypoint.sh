#!/bin/sh
# `server ...` (any minio subcommand) runs `minio server ...`, as the
# official image does; anything else runs as given.
set -e
case "${1:-}" in
  ""|-*) set -- minio "$@" ;;
  server|gateway|--help|-h|--version|-v) set -- minio "$@" ;;
esac
exec "$@"
