#!/bin/bash
# cgroup v2: create /kubelet with the controllers of the root (from kind).
set -o errexit -o nounset -o pipefail
if [[ ! -f "/sys/fs/cgroup/cgroup.controllers" ]]; then exit 0; fi
mkdir -p /sys/fs/cgroup/kubelet
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
  echo "+$c" >/sys/fs/cgroup/kubelet/cgroup.subtree_control 2>/dev/null || true
done
