#!/usr/bin/env bash
# Builds a Debian rootfs tarball with mmdebstrap (no image pulls).
#   rootfs.sh node  OUT.tar   the kind node: systemd, containerd, runc, CNI plugins, iptables...
#   rootfs.sh iptables OUT.tar  a small base for kube-proxy and kube-router: iptables, ipset, conntrack
# The package lists below are part of the cache key (scripts/node-image.sh
# hashes this file).
set -euo pipefail
kind=$1 out=$2
suite=bookworm
mirror="http://deb.debian.org/debian"
sec="deb http://deb.debian.org/debian-security $suite-security main"
upd="deb $mirror $suite-updates main"
case $kind in
  node)
    variant=minbase
    pkgs="systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,iptables,nftables,iproute2,conntrack,ethtool,socat,mount,util-linux,kmod,procps,ca-certificates,libseccomp2,bash,jq,e2fsprogs,findutils,iputils-ping"
    ;;
  iptables)
    variant=minbase
    pkgs="iptables,conntrack,nftables,ipset"
    ;;
  *) echo "error: unknown rootfs \`$kind\` (known: node iptables)" >&2; exit 2 ;;
esac
if ! command -v mmdebstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi
tmp="${out%.tar}.tmp$$.tar"
# Docs, man pages and locales are dropped to keep the image small.
mmdebstrap --quiet --variant="$variant" --include="$pkgs" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --aptopt='APT::Install-Recommends "false"' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
  "$suite" "$tmp" "deb $mirror $suite main" "$upd" "$sec"
mv "$tmp" "$out"
