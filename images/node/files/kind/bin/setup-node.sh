#!/bin/bash
# Build-time setup of the node image (run once by images/node/Dockerfile),
# following kind's images/base/Dockerfile.
set -o errexit -o nounset -o pipefail -o xtrace
chmod 0755 /usr/local/bin/entrypoint /kind/bin/*.sh
find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
  /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
  /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo 'ReadKMsg=no' >>/etc/systemd/journald.conf
systemctl enable kubelet.service containerd.service undo-mount-hacks.service vitals-preload-images.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests /opt/cni/bin /etc/cni/net.d /var/lib/kubelet
# Debian's containernetworking-plugins live in /usr/lib/cni; kind expects /opt/cni/bin.
for p in /usr/lib/cni/*; do ln -sf "$p" /opt/cni/bin/; done
# CRI base spec without the default RLIMIT_NOFILE=1024 (as kind does).
ctr oci spec | jq 'del(.process.rlimits)' >/etc/containerd/cri-base.json
rm -rf /var/cache/apt/* /var/lib/apt/lists/*
