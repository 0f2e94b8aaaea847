#!/bin/bash
# Rejects traffic to the service CIDR that kube-proxy has not DNATed, from
# the first kubelet start on (vitals-netd keeps the same rule later, from the
# ServiceCIDR API). Without it, a connection to a service IP made before
# kube-proxy has programmed it leaves the node; on hosts whose network
# answers any :443 (a transparent proxy) a kept-alive connection, e.g. the
# aggregator's to metrics-server, then serves that proxy's 404s for good.
set -o errexit -o nounset -o pipefail
subnets=$(sed -n 's/^ *serviceSubnet: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' /kind/kubeadm.conf 2>/dev/null | head -n1)
cidr=""
for s in ${subnets//,/ }; do
  case $s in *.*) cidr=$s; break ;; esac
done
cidr=${cidr:-10.96.0.0/16}
nft -f - <<NFT
table ip vitals-guard
delete table ip vitals-guard
table ip vitals-guard {
  chain output { type filter hook output priority filter; ip daddr $cidr reject; }
  chain forward { type filter hook forward priority filter; ip daddr $cidr reject; }
}
NFT
echo "INFO: rejecting un-DNATed traffic to service CIDR $cidr"
