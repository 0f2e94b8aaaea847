#!/usr/bin/env bash
# Builds the minimal Debian bookworm rootfs every data-service image starts
# FROM (vitals/debian:bookworm-<hash>): mmdebstrap --variant=minbase plus CA
# certificates, time zones and netbase. No image is pulled.
#   rootfs.sh OUT.tar
# The --dpkgopt/--aptopt settings are kept in the rootfs (/etc/dpkg/dpkg.cfg.d,
# /etc/apt/apt.conf.d), so the `apt-get install` of every image built FROM it
# also skips docs, man pages, locales and Recommends; policy-rc.d (exit 101)
# keeps package scripts from starting services during `docker build`. This file is part of the
# image's cache key (scripts/images.sh hashes it).
set -euo pipefail
out=$1
suite=bookworm
mirror="http://deb.debian.org/debian"
pkgs="ca-certificates,tzdata,netbase"
tmp="${out%.tar}.tmp$$.tar"
mmdebstrap --quiet --variant=minbase --include="$pkgs" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --aptopt='APT::Install-Recommends "false"' \
  --aptopt='APT::Install-Suggests "false"' \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --customize-hook='printf "#!/bin/sh\nexit 101\n" > "$1"/usr/sbin/policy-rc.d && chmod 0755 "$1"/usr/sbin/policy-rc.d' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/cache/ldconfig/aux-cache' \
  "$suite" "$tmp" "deb $mirror $suite main" "deb $mirror $suite-updates main" \
  "deb http://deb.debian.org/debian-security $suite-security main"
mv "$tmp" "$out"
