#!/bin/bash
# cgroup v1: drop the /proc/cgroups bind mount that hid the misc controller.
set -o errexit -o nounset -o pipefail
[[ -f /sys/fs/cgroup/cgroup.controllers ]] && exit 0
umount /proc/cgroups 2>/dev/null || true
